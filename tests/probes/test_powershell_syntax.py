# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every .ps1 file and every inline PowerShell script of the roles and playbooks parses (tree-sitter).

The grammar is permissive (a smoke check, not the PowerShell parser): it finds unbalanced braces,
unterminated strings and broken here-strings. A syntax error fails the build.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

POWERSHELL_MODULES = ('ansible.windows.win_powershell', 'win_powershell', 'ansible.windows.win_shell', 'win_shell')


def ps1_files():
    return sorted(os.path.relpath(p, ROOT) for pattern in ('roles/**/*.ps1', 'playbooks/**/*.ps1', 'extensions/**/*.ps1')
                  for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            yield from _tasks(node.get(key))


def yaml_files(root=ROOT):
    return sorted(glob.glob(os.path.join(root, 'roles', '*', '*', '*.yml')) + glob.glob(os.path.join(root, 'playbooks', '*.yml')))


def inline_scripts(root=ROOT):
    """(file, task name, script) of every win_powershell/win_shell task whose script is written in the YAML."""
    found = []
    for path in yaml_files(root):
        with open(path) as handle:
            data = yaml.safe_load(handle)
        for task in _tasks(data):
            for module in POWERSHELL_MODULES:
                args = task.get(module)
                script = args.get('script') if isinstance(args, dict) else args
                if isinstance(script, str) and script.strip() and '{{' not in script:
                    found.append((os.path.relpath(path, root), task.get('name'), script))
    return found


def _errors(tree, source):
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == 'ERROR' or node.is_missing:
            line = node.start_point[0] + 1
            problems.append('line %d: %s %r' % (line, 'missing' if node.is_missing else 'cannot parse',
                                                source[node.start_byte:node.end_byte][:60]))
        stack.extend(node.children)
    return problems


def test_there_are_scripts_to_check():
    assert len(ps1_files()) >= 4, ps1_files()


@pytest.mark.parametrize('path', ps1_files())
def test_ps1_files_parse(powershell_parser, path):
    with open(os.path.join(ROOT, path), 'rb') as handle:
        source = handle.read()
    tree = powershell_parser.parse(source)
    assert not tree.root_node.has_error, '\n'.join(_errors(tree, source))


def test_inline_scripts_parse(powershell_parser):
    problems = []
    for path, name, script in inline_scripts():
        source = script.encode('utf-8')
        tree = powershell_parser.parse(source)
        if tree.root_node.has_error:
            problems.append('%s: %s\n%s' % (path, name, '\n'.join(_errors(tree, source))))
    assert not problems, '\n'.join(problems)


def test_inline_scripts_are_found(tmp_path):
    """The collector sees a literal script in a role task (nested in a block) and in a playbook."""
    (tmp_path / 'roles' / 'r' / 'tasks').mkdir(parents=True)
    (tmp_path / 'playbooks').mkdir()
    (tmp_path / 'roles' / 'r' / 'tasks' / 'main.yml').write_text(
        '- name: b\n  block:\n    - name: inline\n      ansible.windows.win_powershell:\n        script: |\n          Get-Item C:\\\n')
    (tmp_path / 'playbooks' / 'p.yml').write_text(
        '- hosts: all\n  tasks:\n    - name: shell\n      ansible.windows.win_shell: Get-Date\n'
        '    - name: from a file\n      ansible.windows.win_powershell:\n        script: "{{ lookup(\'file\', \'x.ps1\') }}"\n')
    assert [(n, s.strip()) for dummy, n, s in inline_scripts(str(tmp_path))] == [('shell', 'Get-Date'), ('inline', 'Get-Item C:\\')]


@pytest.mark.parametrize('broken', [
    b'function Test { if ($a) { "b" }\n',                 # unbalanced brace
    b"$x = 'unterminated\n",
    b"$t = @'\nno end of the here-string\n",
])
def test_the_check_finds_syntax_errors(powershell_parser, broken):
    assert powershell_parser.parse(broken).root_node.has_error
