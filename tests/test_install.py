"""Installed where readers already are: when `import d2l` in the reader's own code would give
another d2l than this kit (the books' own package, `pip install d2l`), every chapter script says
so in one line on stderr and carries on, and so does the test suite's header. The books' package
is played by a stand-in that each test writes into a temporary folder (make_books_d2l); no
registry is used."""
import shutil
import sys

import pytest

import d2l
from d2lkit import script as kit
from conftest import EPOCH_LINE, ROOT, install_kit, make_books_d2l, program

WARNING = '`import d2l` outside this folder gives another package'


def softmax_run(tiny_data, tmp_path, **env):
    """ch_softmax/scratch.py for one epoch on the tiny data, run from outside the repository."""
    return program([str(ROOT / 'ch_softmax' / 'scratch.py'), '--epochs', '1',
                    '--data-root', str(tiny_data)], tmp_path, tmp_path, **env)


# ---------------------------------------------------------------------------
# The chapter scripts, as programs
# ---------------------------------------------------------------------------

def test_the_stand_in_is_what_import_d2l_gives_outside_the_repository(tmp_path):
    site = tmp_path / 'site'
    package = make_books_d2l(site)
    done = program(['-c', 'import d2l; print(d2l.__file__, d2l.__version__)'], tmp_path, tmp_path,
                   PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    # the premise of the tests below
    assert done.stdout.split() == [str(package / '__init__.py'), '1.0.3']


def test_a_chapter_script_warns_in_one_line_and_still_trains(tiny_data, tmp_path):
    site = tmp_path / 'site'
    package = make_books_d2l(site)
    done = softmax_run(tiny_data, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f'warning: {WARNING}, d2l 1.0.3 at {package}, '), done.stderr
    assert str(ROOT / 'd2l.py') in lines[0]  # the kit the scripts use
    assert lines[0].endswith('Fix: pip uninstall d2l (or use a fresh venv)')
    assert EPOCH_LINE.match(done.stdout.splitlines()[0])  # and it trained, with the kit
    # the check only looks: the other package was not imported
    assert not (site / 'imported').exists()


def test_compare_runs_two_scripts_and_warns_once(tmp_path):
    site = tmp_path / 'site'
    make_books_d2l(site)
    done = program(['-m', 'd2l', 'compare', 'ch_linear_regression', '--epochs', '1'],
                   ROOT, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert ([line for line in done.stderr.splitlines() if WARNING in line]
            == done.stderr.splitlines())
    assert len(done.stderr.splitlines()) == 1
    # `python -m d2l` ran it
    assert 'ch_linear_regression: scratch.py vs concise.py (--epochs 1)' in done.stdout
    assert 'they agree' in done.stdout


def test_the_installed_kit_imports_and_runs_python_m_d2l_from_any_folder(tmp_path):
    """The README's install puts d2l.py and the package d2lkit (the kit's commands) on the path:
    both import outside the checkout, `import d2l` alone leaves d2lkit unloaded, and `python -m d2l`
    hands its command line over to d2lkit.cli."""
    site = install_kit(tmp_path)
    code = ('import sys, d2l; alone = "d2lkit" in sys.modules; '
            'import d2lkit.cli, d2lkit.compare, d2lkit.script; '
            'print(alone, d2l.__file__, d2lkit.script.__file__, d2lkit.cli.__file__)')
    done = program(['-c', code], tmp_path, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['False', str(site / 'd2l.py'),
                                   str(site / 'd2lkit' / 'script.py'),
                                   str(site / 'd2lkit' / 'cli.py')]
    helped = program(['-m', 'd2l', '--help'], tmp_path, tmp_path, PYTHONPATH=str(site))
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout
               for command in ('compare', 'sweep', 'exercises', 'compare-models'))
    refused = program(['-m', 'd2l', 'compare', 'ch_nope'], tmp_path, tmp_path, PYTHONPATH=str(site))
    assert refused.returncode == 1  # the kit's one line (run_script), not a traceback
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: no chapter 'ch_nope' with a scratch.py and a concise.py; "
        'choose one of: (none found)')


def test_the_test_suite_header_says_it(tmp_path):
    site = tmp_path / 'site'
    package = make_books_d2l(site)
    done = program(['-m', 'pytest', '--collect-only', '-p', 'no:cacheprovider',
                    'tests/test_utilities.py'], ROOT, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stdout + done.stderr
    header = done.stdout.split('collected')[0]
    assert f'warning: {WARNING}, d2l 1.0.3 at {package}' in header


# ---------------------------------------------------------------------------
# shadowing_d2l, in this process: how `import d2l` is resolved for the reader's own code
# ---------------------------------------------------------------------------

@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path behind this repository, which stays first as the scripts put it."""
    folder = tmp_path / 'site'
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(ROOT))
    return folder


def test_the_books_package_is_seen_behind_the_repository(site):
    package = make_books_d2l(site, '0.17.6')
    warning = kit.shadowing_d2l()
    assert warning.startswith(f'warning: {WARNING}, d2l 0.17.6 at {package}, '
                              f'not this kit ({ROOT / "d2l.py"})')
    assert 'Fix: pip uninstall d2l' in warning and '\n' not in warning
    assert not (site / 'imported').exists()


def test_without_a_dist_info_the_version_comes_from_the_source(site):
    # e.g. a checkout of the books put on the path by hand
    make_books_d2l(site, '1.1.0', dist_info=False)
    assert f', d2l 1.1.0 at {site / "d2l"}, ' in kit.shadowing_d2l()


def test_without_any_version_it_says_so_and_how_to_move_it(site):
    package = make_books_d2l(site, version=None)
    warning = kit.shadowing_d2l()
    assert f'd2l (version unknown) at {package}' in warning
    assert f'Fix: pip uninstall d2l if pip installed it, else move {package} away' in warning


def test_a_folder_named_d2l_without_init_counts(site):
    (site / 'd2l').mkdir()
    (site / 'd2l' / 'torch.py').write_text('')
    assert f'd2l (version unknown) at {site / "d2l"}' in kit.shadowing_d2l()


def test_another_copy_of_the_kit_is_the_kit_but_another_d2l_py_is_not(site):
    # e.g. another checkout, installed with pip install -e
    shutil.copy(ROOT / 'd2l.py', site / 'd2l.py')
    assert kit.shadowing_d2l() is None or str(site) not in kit.shadowing_d2l()
    (site / 'd2l.py').write_text('"""Someone else\'s d2l."""\n__version__ = "0.1"\n')
    assert f'd2l 0.1 at {site / "d2l.py"}' in kit.shadowing_d2l()


def test_the_working_folder_does_not_count_but_pythonpath_does(tmp_path, monkeypatch):
    folder = tmp_path / 'here'
    package = make_books_d2l(folder)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend('')  # `python -m ...` or `python -c` put the working folder first
    monkeypatch.syspath_prepend(str(ROOT))
    warning = kit.shadowing_d2l()
    # only code run in that folder would get it
    assert warning is None or str(package) not in warning
    monkeypatch.setenv('PYTHONPATH', str(folder))  # but one the reader put on the path counts
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(ROOT))
    assert f'd2l 1.0.3 at {package}' in kit.shadowing_d2l()


# ---------------------------------------------------------------------------
# First use on macOS or Windows: no Debian data, the download is the way in
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('platform', ['darwin', 'win32', 'linux'])
def test_first_use_offline_names_the_fixes_of_this_platform(isolated, monkeypatch, platform):
    monkeypatch.setattr(sys, 'platform', platform)
    with pytest.raises(d2l.D2LError) as err:
        # nothing in $D2L_DATA, the cache or the system folder; offline
        d2l.load_data_fashion_mnist(8)
    message = str(err.value)
    assert '\n' not in message and message.startswith('Fashion-MNIST not found')
    # where the download would go
    assert f'default cache {isolated / "xdg-cache" / "d2l"}' in message
    for fix in ('--data-root DIR', 'set D2L_DATA', 'allow the download (network access)'):
        assert fix in message, fix
    assert ('apt-get install dataset-fashion-mnist' in message) == (platform == 'linux')
