"""files: a role's directories and text files in one pass; written only when they differ, atomically."""

import os
import stat

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import files as core


def mode_of(path):
    return "%04o" % stat.S_IMODE(os.stat(path).st_mode)


def test_creates_then_changes_nothing(tmp_path):
    lib = tmp_path / "opt" / "lib"
    specs = dict(directories=[{"path": str(lib), "mode": "0750"}],
                 files=[{"dest": str(lib / "core.py"), "content": "x = 1\n", "mode": "0640"},
                        {"dest": str(tmp_path / "tool.conf"), "content": "A=1\n"}])
    first = core.ensure(**specs)
    assert first["changed"] and first["changed_paths"] == [str(lib), str(lib / "core.py"), str(tmp_path / "tool.conf")]
    assert (lib / "core.py").read_text() == "x = 1\n" and mode_of(lib / "core.py") == "0640" and mode_of(lib) == "0750"
    assert mode_of(tmp_path / "tool.conf") == "0644"  # a new file without a mode
    assert first["diff"][1] == {"before_header": str(lib / "core.py"), "after_header": str(lib / "core.py"),
                                "before": "", "after": "x = 1\n"}
    inode = os.stat(lib / "core.py").st_ino
    again = core.ensure(**specs)
    assert again == {"changed": False, "changed_paths": [], "kept": [], "diff": []}
    assert os.stat(lib / "core.py").st_ino == inode  # not rewritten


def test_a_changed_content_is_replaced_atomically_keeping_the_mode(tmp_path):
    conf = tmp_path / "tool.conf"
    conf.write_text("A=1\n")
    os.chmod(conf, 0o600)
    inode = os.stat(conf).st_ino
    result = core.ensure(files=[{"dest": str(conf), "content": "A=2\n"}])
    assert result["diff"][0]["before"] == "A=1\n" and result["diff"][0]["after"] == "A=2\n"
    assert conf.read_text() == "A=2\n" and mode_of(conf) == "0600"
    assert os.stat(conf).st_ino != inode  # a new file renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["tool.conf"]  # no temporary file left


def test_only_the_mode_differs(tmp_path):
    conf = tmp_path / "tool.conf"
    conf.write_text("A=1\n")
    os.chmod(conf, 0o666)
    result = core.ensure(files=[{"dest": str(conf), "content": "A=1\n", "mode": "0644"}])
    assert result["diff"][0]["before"] == "mode: 0666\n" and result["diff"][0]["after"] == "mode: 0644\n"
    assert mode_of(conf) == "0644"


def test_check_mode_touches_nothing(tmp_path):
    conf = tmp_path / "tool.conf"
    conf.write_text("A=1\n")
    result = core.ensure(directories=[{"path": str(tmp_path / "new")}],
                         files=[{"dest": str(conf), "content": "A=2\n"},
                                {"dest": str(tmp_path / "new" / "f"), "content": "x\n"}], check_mode=True)
    assert result["changed_paths"] == [str(tmp_path / "new"), str(conf), str(tmp_path / "new" / "f")]
    assert conf.read_text() == "A=1\n" and not (tmp_path / "new").exists()


def test_owner_and_group_by_name(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    conf = tmp_path / "tool.conf"
    conf.write_text("A=1\n")
    os.chown(conf, 65534, 65534)
    result = core.ensure(files=[{"dest": str(conf), "content": "A=1\n", "owner": "root", "group": "root"}])
    assert result["changed"] and os.stat(conf).st_uid == 0 and os.stat(conf).st_gid == 0


def test_bad_requests_fail_with_the_path_and_what_to_do(tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    with pytest.raises(core.FilesError, match="adir exists and is not a regular file"):
        core.ensure(files=[{"dest": str(tmp_path / "adir"), "content": ""}])
    with pytest.raises(core.FilesError, match="afile exists and is not a directory"):
        core.ensure(directories=[{"path": str(tmp_path / "afile")}])
    with pytest.raises(core.FilesError, match="mode must be octal like '0644', not 'rw'"):
        core.ensure(files=[{"dest": str(tmp_path / "x"), "content": "", "mode": "rw"}])
    with pytest.raises(core.FilesError, match="owner 'no-such-user-here' does not exist"):
        core.ensure(files=[{"dest": str(tmp_path / "x"), "content": "", "owner": "no-such-user-here"}])
    with pytest.raises(core.FilesError, match="its directory does not exist"):
        core.ensure(files=[{"dest": str(tmp_path / "missing" / "x"), "content": ""}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def test_a_large_file_is_summarised_in_the_diff(tmp_path):
    big = "y" * (core.DIFF_LIMIT + 1)
    result = core.ensure(files=[{"dest": str(tmp_path / "big"), "content": big}])
    assert result["diff"][0]["after"] == "(%d bytes, not shown)\n" % len(big)


def test_links_are_made_re_pointed_and_a_real_tool_is_kept(tmp_path):
    (tmp_path / "k3s").write_text("binary")
    (tmp_path / "ctr").write_text("a ctr the user installed")
    os.symlink("/old/k3s", tmp_path / "crictl")
    links = [{"path": str(tmp_path / name), "src": str(tmp_path / "k3s")} for name in ("kubectl", "crictl", "ctr")]
    preview = core.ensure(links=links, check_mode=True)
    assert preview["changed_paths"] == [str(tmp_path / "kubectl"), str(tmp_path / "crictl")]
    assert not (tmp_path / "kubectl").exists() and os.readlink(tmp_path / "crictl") == "/old/k3s"
    result = core.ensure(links=links)
    assert result["changed_paths"] == [str(tmp_path / "kubectl"), str(tmp_path / "crictl")]
    assert result["kept"] == [str(tmp_path / "ctr")]
    assert result["diff"][1] == {"before_header": str(tmp_path / "crictl"), "after_header": str(tmp_path / "crictl"),
                                 "before": "link to /old/k3s\n", "after": "link to %s\n" % (tmp_path / "k3s")}
    assert os.readlink(tmp_path / "kubectl") == str(tmp_path / "k3s") and (tmp_path / "ctr").read_text().startswith("a ctr")
    again = core.ensure(links=links)
    assert not again["changed"] and again["kept"] == [str(tmp_path / "ctr")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crictl", "ctr", "k3s", "kubectl"]  # no temporary link left


def test_a_secret_file_is_written_and_its_content_never_in_the_diff(tmp_path):
    token = tmp_path / "token"
    first = core.ensure(secret_files=[{"dest": str(token), "content": "s3cr3t-one\n", "mode": "0600"}])
    assert token.read_text() == "s3cr3t-one\n" and mode_of(token) == "0600"
    assert first["changed_paths"] == [str(token)]
    changed = core.ensure(secret_files=[{"dest": str(token), "content": "s3cr3t-two\n", "mode": "0600"}])
    assert token.read_text() == "s3cr3t-two\n"
    assert "s3cr3t" not in repr(first) + repr(changed)
    assert changed["diff"] == [{"before_header": str(token), "after_header": str(token),
                                "before": core.SECRET, "after": core.SECRET}]
    assert not core.ensure(secret_files=[{"dest": str(token), "content": "s3cr3t-two\n"}])["changed"]


def test_force_false_writes_a_missing_file_once_and_never_replaces_it(tmp_path):
    token = tmp_path / "token"
    spec = {"dest": str(token), "content": "generated-1\n", "mode": "0600", "force": False}
    assert core.ensure(secret_files=[spec])["changed"] and token.read_text() == "generated-1\n"
    again = core.ensure(secret_files=[dict(spec, content="generated-2\n")])
    assert not again["changed"] and token.read_text() == "generated-1\n"
    os.chmod(token, 0o644)  # its mode is still corrected
    assert core.ensure(secret_files=[dict(spec, content="generated-3\n")])["changed_paths"] == [str(token)]
    assert mode_of(token) == "0600" and token.read_text() == "generated-1\n"


def test_absent_removes_files_and_links_not_directories(tmp_path):
    stale, link, tree = tmp_path / "registries.yaml", tmp_path / "old-link", tmp_path / "config.yaml.d"
    stale.write_text("mirrors: {}\n")
    link.symlink_to(tmp_path / "nowhere")
    tree.mkdir()
    paths = [str(stale), str(link), str(tmp_path / "never-there")]
    checked = core.ensure(absent=paths, check_mode=True)
    assert checked["changed_paths"] == paths[:2] and stale.exists() and os.path.islink(link)
    removed = core.ensure(absent=paths)
    assert removed["changed_paths"] == paths[:2] and not stale.exists() and not os.path.lexists(link)
    assert removed["diff"][0]["before"] == "present\n" and removed["diff"][0]["after"] == "absent\n"
    assert not core.ensure(absent=paths)["changed"]
    with pytest.raises(core.FilesError, match="is a directory"):
        core.ensure(absent=[str(tree)])
    assert tree.is_dir()


def run_real(argv):
    import subprocess
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_validate_checks_the_new_content_before_it_replaces_the_file(tmp_path):
    # a real checker: python3 compiles the temporary file the module would rename into place
    tool = tmp_path / "tool.py"
    tool.write_text("x = 1\n")
    check = "python3 -m py_compile %s"
    with pytest.raises(core.FilesError, match=r"tool.py: 'python3 -m py_compile %s' refused the new content \(rc 1\)"):
        core.ensure(files=[{"dest": str(tool), "content": "x = (\n", "validate": check}], run=run_real)
    assert tool.read_text() == "x = 1\n"
    assert sorted(os.listdir(tmp_path)) == ["tool.py"]  # no temporary file left behind
    result = core.ensure(files=[{"dest": str(tool), "content": "x = 2\n", "validate": check}], run=run_real)
    assert result["changed"] and tool.read_text() == "x = 2\n"
    # unchanged content: the checker is not run at all
    assert not core.ensure(files=[{"dest": str(tool), "content": "x = 2\n", "validate": check}], run=None)["changed"]
    with pytest.raises(core.FilesError, match="validate must contain %s"):
        core.ensure(files=[{"dest": str(tool), "content": "x = 3\n", "validate": "python3 -m py_compile"}], run=run_real)
    assert tool.read_text() == "x = 2\n"
