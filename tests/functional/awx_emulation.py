# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST-ONLY: how AWX / AAP validates a custom credential type and injects a credential into a job.

Our reading of ansible/awx (ported, not copied):
- awx/main/fields.py ``CredentialTypeInjectorField.validate``: every injector template renders in a
  sandbox with ``StrictUndefined``, each defined input field set to ``'EXAMPLE'``; ``tower.filename``
  exists only with a ``file`` injector (``template`` for one file, ``template.<name>`` for several);
  env names starting with ``ANSIBLE_`` are refused.
- awx/main/models/credential/__init__.py ``CredentialType.inject_credential``: the namespace holds
  only the inputs with a non-empty value (an optional field left empty is undefined, so it renders
  as ``''``); each file injector is written to ``<private_data_dir>/env/tmpXXXX`` and its path is
  ``tower.filename``; env injectors go into the job's environment; extra_vars injectors are dumped
  to a YAML file passed as ``-e @file``, never into the job's stored extra_vars. ``safe_env`` (what
  AWX stores and shows) has every secret input replaced by ``**********``.
- awx/main/utils/safe_yaml.py ``safe_dump``: that extra vars file tags every key and value ``!unsafe``,
  so Ansible never templates an injected secret.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import tempfile

import yaml

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

HIDDEN = '**********'


class _UnsafeDumper(yaml.SafeDumper):
    """Every string as ``!unsafe``, like AWX's safe_yaml.SafeStringDumper."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar('!unsafe', data)
        return super(_UnsafeDumper, self).represent_data(data)


class _Tower(object):
    """The ``tower`` namespace of the templates."""


def validate(credential_type):
    """Raise ValueError like AWX refuses a credential type whose injectors it cannot render."""
    fields = [f['id'] for f in credential_type['inputs'].get('fields', [])]
    namespace = dict((name, 'EXAMPLE') for name in fields)
    tower = _Tower()
    files = [k for k in credential_type['injectors'].get('file', {}) if k.startswith('template')]
    if 'template' in files:
        if len(files) > 1:
            raise ValueError('Must use multi-file syntax when injecting multiple files')
        tower.filename = 'EXAMPLE_FILENAME'
    elif files:
        tower.filename = _Tower()
        for name in files:
            setattr(tower.filename, name.split('.')[1], 'EXAMPLE_FILENAME')
    namespace['tower'] = tower
    for kind, injector in credential_type['injectors'].items():
        if kind not in ('file', 'env', 'extra_vars'):
            raise ValueError('unknown injector kind %s' % kind)
        for key, template in injector.items():
            if kind == 'env' and (key.startswith('ANSIBLE_') or not re.match(r'^[a-zA-Z_]+[a-zA-Z0-9_]*$', key)):
                raise ValueError('environment variable %s is not allowed in credentials' % key)
            if kind == 'extra_vars' and not re.match(r'^[a-zA-Z_]+[a-zA-Z0-9_]*$', key):
                raise ValueError('%s is not a valid variable name' % key)
            ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(template).render(namespace)


def inject(credential_type, inputs, private_data_dir):
    """Return (env, safe_env, extra_vars_file or None) for a credential with these inputs."""
    secret = set(f['id'] for f in credential_type['inputs'].get('fields', []) if f.get('secret'))
    namespace, safe = {}, {}
    for name, value in inputs.items():
        if isinstance(value, bool):
            namespace[name] = safe[name] = value
            continue
        if len(value):
            namespace[name] = value
            safe[name] = HIDDEN if name in secret else value
    for field in credential_type['inputs'].get('fields', []):
        if field['type'] == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = safe[field['id']] = False
    tower = _Tower()
    namespace['tower'] = safe['tower'] = tower
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, 'env')
    if not os.path.isdir(env_dir):
        os.makedirs(env_dir)
    for label, template in credential_type['injectors'].get('file', {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, 0o660)
        if '.' not in label:
            tower.filename = path
        else:
            if not hasattr(tower, 'filename'):
                tower.filename = _Tower()
            setattr(tower.filename, label.split('.')[1], path)
    env, safe_env = {}, {}
    for name, template in credential_type['injectors'].get('env', {}).items():
        env[name] = sandbox.from_string(template).render(**namespace)
        safe_env[name] = sandbox.from_string(template).render(**safe)
    extra_vars = dict((name, sandbox.from_string(template).render(**namespace))
                      for name, template in credential_type['injectors'].get('extra_vars', {}).items())
    extra_vars_file = None
    if extra_vars:
        handle, extra_vars_file = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as out:
            out.write(yaml.dump(extra_vars, Dumper=_UnsafeDumper))
        os.chmod(extra_vars_file, 0o440)
    return env, safe_env, extra_vars_file


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)
