# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every stand-in of the simulated Windows host declares exactly the real module's options.

The real modules are the dependency collections that scripts/bootstrap.sh extracts into
``.cache/collections`` (pinned by the ``ansible`` wheel version). For each stand-in, its
``ARGUMENT_SPEC`` must have the same option names, and for each option the same type, default,
choices, elements, aliases and required flag as the real module's documentation (with its
``extends_documentation_fragment`` options merged in, as ansible-doc does). Any difference fails.
A stand-in that does not implement an option fails a task that sets it (``MODELLED``), so a role
cannot depend on behaviour the stand-in silently ignores.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import importlib
import os
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
REAL = os.path.join(ROOT, '.cache', 'collections', 'ansible_collections')
FAKE = os.path.join(HERE, 'ansible_collections')
sys.path.insert(0, HERE)
COMPARED = ('type', 'default', 'choices', 'elements', 'aliases', 'required')


def stand_ins():
    found = []
    for ns in sorted(os.listdir(FAKE)):
        for coll in sorted(os.listdir(os.path.join(FAKE, ns))):
            folder = os.path.join(FAKE, ns, coll, 'plugins', 'modules')
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if name.endswith('.py') and not name.startswith('_'):
                    found.append('%s.%s.%s' % (ns, coll, name[:-3]))
    return found


def _assigned(path, name, in_class=False):
    with open(path) as handle:
        tree = ast.parse(handle.read())
    body = tree.body
    if in_class:
        body = [n for n in tree.body if isinstance(n, ast.ClassDef)][0].body
    for node in body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == name:
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no %s' % (path, name))


def _fragment(ref):
    parts = ref.split('.')
    ns, coll, fragment = parts[:3]
    variable = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
    return _assigned(os.path.join(REAL, ns, coll, 'plugins', 'doc_fragments', fragment + '.py'), variable, in_class=True)


def real_options(fqcn):
    ns, coll, module = fqcn.split('.')
    path = os.path.join(REAL, ns, coll, 'plugins', 'modules', module + '.py')
    if not os.path.exists(path):
        pytest.fail('the real module %s is not in %s: run scripts/bootstrap.sh' % (fqcn, REAL))
    doc = _assigned(path, 'DOCUMENTATION')
    options = {}
    for ref in doc.get('extends_documentation_fragment') or []:
        if ref.count('.') >= 2 and not ref.startswith('ansible.builtin.'):
            for name, option in (_fragment(ref).get('options') or {}).items():
                options[name] = dict(option)
    for name, option in (doc.get('options') or {}).items():
        options.setdefault(name, {}).update(option)
    return options


def _normal(option):
    out = {'type': option.get('type', 'str'), 'required': bool(option.get('required', False))}
    for key in ('default', 'choices', 'elements'):
        if option.get(key) is not None:
            out[key] = option[key]
    out['aliases'] = sorted(option.get('aliases') or [])
    return out


@pytest.mark.parametrize('fqcn', stand_ins())
def test_stand_in_options_equal_the_real_modules(fqcn):
    module = importlib.import_module('ansible_collections.%s.plugins.modules.%s' % tuple(fqcn.rsplit('.', 1)))
    fake = module.ARGUMENT_SPEC
    real = real_options(fqcn)
    assert sorted(fake) == sorted(real), 'option names differ: only in the stand-in %s, only in the real module %s' % (
        sorted(set(fake) - set(real)), sorted(set(real) - set(fake)))
    differences = []
    for name in sorted(real):
        want, have = _normal(real[name]), _normal(fake[name])
        for key in COMPARED:
            if want.get(key) != have.get(key):
                differences.append('%s.%s: real %r, stand-in %r' % (name, key, want.get(key), have.get(key)))
    assert not differences, '\n'.join(differences)
    assert set(module.MODELLED) <= set(fake)


def test_every_fake_collection_has_its_stand_ins_checked():
    assert len(stand_ins()) >= 13
    assert 'chocolatey.chocolatey.win_chocolatey' in stand_ins()


def test_the_comparison_catches_a_difference(monkeypatch):
    """The check itself: a changed default is reported."""
    module = importlib.import_module('ansible_collections.ansible.windows.plugins.modules.win_get_url')
    changed = dict(module.ARGUMENT_SPEC, force=dict(type='bool', default=False))
    monkeypatch.setattr(module, 'ARGUMENT_SPEC', changed)
    with pytest.raises(AssertionError) as err:
        test_stand_in_options_equal_the_real_modules('ansible.windows.win_get_url')
    assert 'force.default' in str(err.value)
