# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
# This doc fragment is PRIVATE to the octopus.ha collection, not a public API.

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment:
    """Connection options and attributes shared by the octopus.ha modules."""

    # octopus.ha._octopus: the connection options (OCTOPUS_CONNECTION_SPEC in _octopus_api.py).
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Octopus Server, for example V(https://octopus.example.com).
      - Whitespace, trailing slashes and a trailing C(/api) are removed.
      - Must be an absolute C(http) or C(https) URL without credentials, query string or fragment.
      - The API key is sent in clear text over C(http://) URLs; the module warns when that happens.
      - If not set, the value of the E(OCTOPUS_URL) environment variable is used.
    type: str
    required: true
  api_key:
    description:
      - API key of the Octopus service account, sent only in the C(X-Octopus-ApiKey) header.
      - It is never sent in the query string and is not forwarded on redirects.
      - If not set, the value of the E(OCTOPUS_API_KEY) environment variable is used.
    type: str
    required: true
  validate_certs:
    description:
      - Whether to validate the TLS certificate of the Octopus Server.
      - Set O(ca_path) for a private certificate authority instead of turning this off.
      - If not set, the value of the E(OCTOPUS_VALIDATE_CERTS) environment variable is used, then V(true).
    type: bool
    default: true
  ca_path:
    description:
      - Path to a PEM bundle of the certificate authorities that may sign the server certificate.
      - The file is read on the host that runs the module (the controller for C(localhost) tasks). A missing or
        unreadable file fails the module before any request is sent.
      - If not set, the value of the E(OCTOPUS_CA_PATH) environment variable is used. An empty value means not set.
    type: path
  client_cert:
    description:
      - Path to a PEM client certificate, for an Octopus Server behind a proxy or load balancer that requires
        mutual TLS. It may also hold the private key.
      - If not set, the value of the E(OCTOPUS_CLIENT_CERT) environment variable is used.
    type: path
  client_key:
    description:
      - Path to the unencrypted PEM private key of O(client_cert), when the certificate file does not hold it.
      - If not set, the value of the E(OCTOPUS_CLIENT_KEY) environment variable is used.
    type: path
  timeout:
    description:
      - Timeout in seconds of one HTTP request.
    type: int
    default: 30
  request_deadline:
    description:
      - Time budget in seconds of one logical API call, retries and waits included.
      - When the next wait would pass this deadline the call fails with the last error.
    type: int
    default: 120
  max_retries:
    description:
      - Maximum number of retries of one API call after connection errors, timeouts and HTTP 429, 502, 503 or 504.
      - Only GET, PUT and DELETE are retried; a POST is retried only when the connection was never established.
      - Waits grow exponentially with full jitter, and are at least as long as a C(Retry-After) header asks.
      - V(0) disables retries.
    type: int
    default: 5
notes:
  - HTTP 401 and 403 answers fail at once; a 403 names the Octopus permission the service account lacks.
  - Transport mistakes fail at once, without retries, naming the option to fix, for example an C(https://) O(url)
    that points at a plain HTTP port, an C(http://) O(url) that is redirected to C(https://) (the API key is then never
    sent over plain HTTP), a host name that does not resolve, or a O(url) that is not an Octopus Server.
  - Proxies come from the E(https_proxy), E(http_proxy) and E(no_proxy) environment variables of the host that runs
    the module; an C(https://) O(url) is tunnelled with C(CONNECT), so the proxy never sees the API key.
"""

    # octopus.ha._octopus.attributes: descriptions of check_mode and diff_mode; modules add C(support).
    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the Octopus Server.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
"""

    # octopus.ha._octopus.info_module: attributes of a read-only *_info module.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the Octopus Server.
    support: full
    details:
      - This module only reads from the Octopus Server and never reports a change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: N/A
    details:
      - This module never changes anything.
"""

    # octopus.ha._octopus.actiongroup_aws: membership of the aws action group and where the AWS modules run.
    ACTIONGROUP_AWS = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/octopus.ha.aws) in C(module_defaults) to set the AWS options once (it extends C(amazon.aws.aws)).
    support: full
    membership:
      - octopus.ha.aws
  platform:
    platforms: posix
    details: Runs wherever boto3 is installed, usually the controller (C(localhost)).
"""

    # octopus.ha._octopus.actiongroup_octopus: membership of the octopus action group.
    ACTIONGROUP_OCTOPUS = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/octopus.ha.octopus) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - octopus.ha.octopus
"""
