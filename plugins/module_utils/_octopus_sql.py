# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: the one parser of SQL Server connection strings.

This module_util is PRIVATE to the octopus.ha collection, not a public API.

Rules (as SqlClient reads ADO.NET connection strings): ``key=value`` pairs separated by ``;``;
keys are case-insensitive, their inner white space collapsed, and ``==`` in a key is a literal
``=``; a value may be quoted with ``'`` or ``"`` (a doubled quote inside is a literal quote, and
a quoted value may hold ``;``); ``;;`` inside an unquoted value is a literal ``;``; white space
around unquoted values is ignored; when a key repeats, the last value wins.

No function here returns or echoes a secret: errors name the problem, never the input.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

DEFAULT_SQL_PORT = 1433
SERVER_KEYS = ('server', 'data source', 'address', 'addr', 'network address')
DATABASE_KEYS = ('initial catalog', 'database')
USER_KEYS = ('user id', 'uid', 'user', 'username', 'user name')
FAILOVER_KEYS = ('failover partner',)


class ConnectionStringError(ValueError):
    """The connection string cannot be read. The message never contains the connection string."""


def _read_key(value, i, length):
    chars = []
    while i < length:
        if value[i] == '=':
            if i + 1 < length and value[i + 1] == '=':
                chars.append('=')
                i += 2
                continue
            return ' '.join(''.join(chars).split()).lower(), i + 1
        if value[i] == ';':
            break
        chars.append(value[i])
        i += 1
    raise ConnectionStringError('the connection string has a part without "key=value" form')


def _read_quoted(value, i, length):
    quote = value[i]
    i += 1
    chars = []
    while True:
        if i >= length:
            raise ConnectionStringError('the connection string has an unterminated quoted value')
        if value[i] == quote:
            if i + 1 < length and value[i + 1] == quote:
                chars.append(quote)
                i += 2
                continue
            i += 1
            break
        chars.append(value[i])
        i += 1
    while i < length and value[i] != ';':
        if not value[i].isspace():
            raise ConnectionStringError('the connection string has characters after a closing quote')
        i += 1
    return ''.join(chars), i


def _read_plain(value, i, length):
    chars = []
    while i < length:
        if value[i] == ';':
            if i + 1 < length and value[i + 1] == ';':
                chars.append(';')
                i += 2
                continue
            break
        chars.append(value[i])
        i += 1
    return ''.join(chars).strip(), i


def split_connection_string(value):
    """``[(lower-case key, value), ...]`` in the order given."""
    if not isinstance(value, str):
        raise ConnectionStringError('the connection string is not a string')
    pairs = []
    i, length = 0, len(value)
    while i < length:
        while i < length and (value[i].isspace() or value[i] == ';'):
            i += 1
        if i >= length:
            break
        key, i = _read_key(value, i, length)
        while i < length and value[i] in ' \t':
            i += 1
        if i < length and value[i] in '\'"':
            val, i = _read_quoted(value, i, length)
        else:
            val, i = _read_plain(value, i, length)
        pairs.append((key, val))
    return pairs


def connection_string_parts(value):
    """Lower-cased keys -> values (the last one wins, as in SqlClient). Empty input -> {}."""
    if value in (None, ''):
        return {}
    return dict(split_connection_string(value))


def _first(parts, keys):
    for key in keys:
        if parts.get(key):
            return parts[key]
    return None


def sql_user(connection_string):
    """The SQL login (``User ID`` and its synonyms), or None."""
    return _first(connection_string_parts(connection_string), USER_KEYS)


def uses_integrated_security(connection_string):
    """True for ``Integrated Security=True|SSPI``, ``Trusted_Connection=yes`` or ``Authentication=ActiveDirectoryIntegrated``."""
    parts = connection_string_parts(connection_string)
    integrated = parts.get('integrated security', parts.get('trusted_connection', 'false')).strip().lower()
    authentication = parts.get('authentication', '').strip().lower()
    return integrated in ('true', 'yes', 'sspi') or authentication == 'activedirectoryintegrated'


def _pipe_host(text):
    match = re.match(r'^\\\\([^\\]+)\\', text)
    return match.group(1) if match else None


def _not_tcp(result, prefix, text):
    kind = 'named pipes' if prefix == 'np' else 'shared memory'
    result.update(protocol='named_pipes' if prefix == 'np' else 'shared_memory', checkable=False,
                  host=_pipe_host(text) if prefix == 'np' else 'localhost',
                  note='the %s protocol is not TCP; only the node API check covers the database' % kind)
    return result


def _split_host(text):
    host, instance = text, None
    if host.startswith('['):
        end = host.find(']')
        if end < 0:
            raise ConnectionStringError('unbalanced "[" in the server address')
        instance = host[end + 1:].lstrip('\\') or None
        host = host[1:end]
    elif '\\' in host:
        host, instance = host.split('\\', 1)
    return host.strip(), (instance or '').strip() or None


def parse_server(server, default_port=DEFAULT_SQL_PORT):
    """The value of Server/Data Source/Address -> host, port, instance, protocol, checkable, note."""
    result = dict(host=None, port=None, instance=None, protocol='tcp', port_source=None,
                  dynamic_port=False, checkable=True, note='')
    text = server.strip()
    match = re.match(r'^(tcp|np|lpc|admin):(.*)$', text, re.IGNORECASE)
    if match:
        prefix, text = match.group(1).lower(), match.group(2).strip()
        if prefix in ('np', 'lpc'):
            return _not_tcp(result, prefix, text)
        if prefix == 'admin':
            result['note'] = 'dedicated administrator connection prefix ignored'
    port_text = None
    if ',' in text:
        text, port_text = [t.strip() for t in text.rsplit(',', 1)]
    host, instance = _split_host(text)
    if host.lower() == '(localdb)':
        result.update(host='localhost', instance=instance, protocol='localdb', checkable=False,
                      note='LocalDB is not reachable over TCP; only the node API check covers the database')
        return result
    host = 'localhost' if host in ('.', '(local)', '') else host
    result.update(host=host, instance=instance)
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConnectionStringError('the port in the server address is not a number from 1 to 65535')
        result.update(port=int(port_text), port_source='explicit')
    elif instance:
        result.update(dynamic_port=True, checkable=False, port_source='dynamic',
                      note='named instance %s without a port: the port is dynamic (resolved through SQL Browser, '
                           'UDP 1434); set node_verify_sql_port to probe it' % instance)
    else:
        result.update(port=int(default_port), port_source='default')
    return result


def sql_endpoint(connection_string, default_port=DEFAULT_SQL_PORT, port=None):
    """The network endpoint of a connection string (no secret): host, port, instance, database, ...

    ``port`` (1-65535) overrides the TCP port, for example the static port of a named instance.
    """
    if not isinstance(connection_string, str) or not connection_string.strip():
        raise ConnectionStringError('the connection string is empty or not a string')
    pairs = split_connection_string(connection_string)
    parts = dict(pairs)
    server = next((parts[k] for k in SERVER_KEYS if k in parts), None)
    if server is None:
        raise ConnectionStringError('the connection string has no Server, Data Source or Address keyword (keys present: %s)'
                                    % ', '.join(sorted(set(k for k, dummy in pairs))))
    result = parse_server(server, default_port)
    if port not in (None, '', 0, '0'):
        port = int(port) if re.match(r'^[0-9]+$', str(port).strip()) and not isinstance(port, bool) else None
        if port is None or not 0 < port < 65536:
            raise ConnectionStringError('the port override is not from 1 to 65535')
        if result['protocol'] == 'tcp':
            result.update(port=port, port_source='override', dynamic_port=False, checkable=True)
    failover = _first(parts, FAILOVER_KEYS)
    result.update(database=next((parts[k] for k in DATABASE_KEYS if k in parts), None),
                  integrated_security=uses_integrated_security(connection_string),
                  failover_partner=parse_server(failover, default_port).get('host') if failover else None)
    return result
