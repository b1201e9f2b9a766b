"""The books' downloads (DATA_HUB, download, download_extract), d2l.tensor on
pandas' arrays, dir(d2l), and the house-price path end to end, all against a server
on 127.0.0.1 (conftest.file_server)."""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import ROOT, closed_port, is_png
import d2l

BODY = b'Id,x\n1,2.5\n2,\n'
SHA1 = hashlib.sha1(BODY).hexdigest()


def test_a_file_with_the_right_sha1_is_used_without_the_network(tmp_path, capsys):
    folder = tmp_path / 'data'
    folder.mkdir()
    (folder / 'table.csv').write_bytes(BODY)
    url = f'http://127.0.0.1:{closed_port()}/table.csv'  # a download would be refused
    assert d2l.download(url, folder, sha1_hash=SHA1) == str(folder / 'table.csv')
    assert d2l.download(url, folder) == str(folder / 'table.csv')  # no sha1 known: the file is used
    assert (folder / 'table.csv').read_bytes() == BODY
    assert 'Downloading' not in capsys.readouterr().out


def test_a_download_is_checked_kept_and_then_served_from_the_folder(file_server, tmp_path, capsys):
    file_server.files['table.csv'] = BODY
    folder = tmp_path / 'new' / 'data'  # made as needed
    path = d2l.download(f'{file_server.url}/table.csv', folder, sha1_hash=SHA1)
    assert path == str(folder / 'table.csv') and open(path, 'rb').read() == BODY
    assert f'Downloading {path} from {file_server.url}/table.csv' in capsys.readouterr().out
    assert d2l.download(f'{file_server.url}/table.csv', folder, sha1_hash=SHA1) == path
    assert file_server.hits == ['/table.csv']  # the second call did not ask again
    assert sorted(os.listdir(folder)) == ['table.csv']  # no temporary file left behind


def test_a_stale_file_is_downloaded_again(file_server, tmp_path):
    (tmp_path / 'table.csv').write_bytes(b'an older version')
    file_server.files['table.csv'] = BODY
    d2l.download(f'{file_server.url}/table.csv', tmp_path, sha1_hash=SHA1)
    assert (tmp_path / 'table.csv').read_bytes() == BODY


def test_the_0_17_form_takes_a_hub_name_and_cache_dir(file_server, tmp_path, monkeypatch):
    file_server.files['table.csv'] = BODY
    monkeypatch.setitem(d2l.DATA_HUB, 'table', (f'{file_server.url}/table.csv', SHA1))
    work = tmp_path / 'chapter'
    work.mkdir()
    monkeypatch.chdir(work)
    # the books' default folder
    assert d2l.download('table') == os.path.join('..', 'data', 'table.csv')
    assert (tmp_path / 'data' / 'table.csv').read_bytes() == BODY
    assert (d2l.download('table', cache_dir=tmp_path / 'cache')
            == str(tmp_path / 'cache' / 'table.csv'))
    assert d2l.download('table', str(tmp_path / 'pos')) == str(tmp_path / 'pos' / 'table.csv')
    assert len(file_server.hits) == 3
    with pytest.raises(d2l.D2LError,
                       match=r"'no_such_name' is neither a URL nor a name in d2l.DATA_HUB"):
        d2l.download('no_such_name')


def test_the_books_hub_entries_and_base_url():
    assert d2l.DATA_URL == 'http://d2l-data.s3-accelerate.amazonaws.com/'
    assert d2l.DATA_HUB['kaggle_house_train'] == (d2l.DATA_URL + 'kaggle_house_pred_train.csv',
                                                  '585e9cc93e70b39160e7921475f9bcd7d31219ce')
    assert d2l.DATA_HUB['kaggle_house_test'][0] == d2l.DATA_URL + 'kaggle_house_pred_test.csv'
    assert {'DATA_URL', 'DATA_HUB', 'download', 'extract',
            'download_extract', 'download_all'} <= set(d2l.__all__)


def test_a_wrong_sha1_is_one_clear_error_that_keeps_nothing(file_server, tmp_path):
    file_server.files['table.csv'] = b'not the expected content'
    with pytest.raises(d2l.D2LError) as e:
        d2l.download(f'{file_server.url}/table.csv', tmp_path, sha1_hash=SHA1)
    got = hashlib.sha1(b'not the expected content').hexdigest()
    assert f'sha1 is {got}, not {SHA1}; nothing was kept' in str(e.value)
    assert str(tmp_path) in str(e.value) and '\n' not in str(e.value)
    assert os.listdir(tmp_path) == []


def test_an_unreachable_host_is_one_line_naming_file_url_and_folder(tmp_path):
    url = f'http://127.0.0.1:{closed_port()}/table.csv'
    with pytest.raises(d2l.D2LError) as e:
        d2l.download(url, tmp_path / 'data')
    message = str(e.value)
    assert message.startswith(f'cannot download table.csv from {url} (')
    assert f'put the file into {tmp_path / "data"} by hand' in message and '\n' not in message
    # no chained network traceback
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert os.listdir(tmp_path / 'data') == []
    # a relative folder (the books' ../data) is also named in full
    with pytest.raises(d2l.D2LError) as e:
        d2l.download(url, 'data')
    assert f'put the file into data ({tmp_path.resolve() / "data"}) by hand' in str(e.value)


def test_an_http_error_names_the_status(file_server, tmp_path):
    with pytest.raises(d2l.D2LError, match=r'cannot download missing\.csv from .*\(HTTP 404 '):
        d2l.download(f'{file_server.url}/missing.csv', tmp_path)
    assert os.listdir(tmp_path) == []


def test_an_interrupted_download_leaves_no_file(file_server, tmp_path):
    file_server.files['big.csv'] = b'x' * 5000
    file_server.cut_short.add('big.csv')
    with pytest.raises(d2l.D2LError, match=r'the connection closed after 10 of 5000 bytes'):
        d2l.download(f'{file_server.url}/big.csv', tmp_path)  # no sha1 to catch it: the length does
    assert os.listdir(tmp_path) == []


def test_offline_a_script_stops_with_the_one_line_and_d2l_data_url_moves_the_hub(tmp_path):
    # A reader's script: the error's own line, and no network exception chained above it.
    mirror = f'http://127.0.0.1:{closed_port()}/mirror'
    code = ('import d2l; print(d2l.DATA_URL); print(d2l.DATA_HUB["kaggle_house_train"][0]); '
            f'd2l.download("kaggle_house_train", {str(tmp_path)!r})')
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, 'D2L_DATA_URL': mirror, 'PYTHONPATH': str(ROOT)})
    assert p.returncode == 1
    assert p.stdout.splitlines()[:2] == [mirror + '/', mirror + '/kaggle_house_pred_train.csv']
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f'd2l.D2LError: cannot download kaggle_house_pred_train.csv from {mirror}/')
    assert f'put the file into {tmp_path} by hand' in last
    assert 'During handling' not in p.stderr and 'urllib' not in p.stderr


def _archive(kind: str) -> bytes:
    """A small archive holding pack/a.txt and pack/sub/b.txt."""
    buffer = io.BytesIO()
    if kind == 'zip':
        with zipfile.ZipFile(buffer, 'w') as z:
            z.writestr('pack/a.txt', 'alpha')
            z.writestr('pack/sub/b.txt', 'beta')
    else:
        with tarfile.open(fileobj=buffer, mode='w:gz' if kind == 'tar.gz' else 'w') as t:
            for name, text in (('pack/a.txt', b'alpha'), ('pack/sub/b.txt', b'beta')):
                info = tarfile.TarInfo(name)
                info.size = len(text)
                t.addfile(info, io.BytesIO(text))
    return buffer.getvalue()


@pytest.mark.parametrize('kind', ['zip', 'tar', 'tar.gz'])
def test_download_extract_unpacks_next_to_the_archive(kind, file_server, tmp_path, monkeypatch):
    body = _archive(kind)
    file_server.files[f'pack.{kind}'] = body
    monkeypatch.setitem(d2l.DATA_HUB, 'pack',
                        (f'{file_server.url}/pack.{kind}', hashlib.sha1(body).hexdigest()))
    (tmp_path / 'work').mkdir()
    monkeypatch.chdir(tmp_path / 'work')
    folder = d2l.download_extract('pack')
    # the books' rule
    assert folder == os.path.join('..', 'data', 'pack' if kind != 'tar.gz' else 'pack.tar')
    assert (tmp_path / 'data' / 'pack' / 'a.txt').read_text() == 'alpha'
    assert (tmp_path / 'data' / 'pack' / 'sub' / 'b.txt').read_text() == 'beta'
    assert d2l.download_extract('pack', 'pack/sub') == os.path.join('..', 'data', 'pack/sub')
    assert len(file_server.hits) == 1  # the second call found the archive


def test_extract_refuses_what_it_cannot_unpack(tmp_path):
    (tmp_path / 'table.csv').write_text('a,b\n')
    with pytest.raises(d2l.D2LError,
                       match=r'only \.zip, \.tar and \.tar\.gz files can be extracted'):
        d2l.extract(tmp_path / 'table.csv')
    (tmp_path / 'broken.zip').write_bytes(b'PK\x03\x04 not really')
    with pytest.raises(d2l.D2LError,
                       match=r'cannot extract .*broken\.zip .*delete it and download it again'):
        d2l.extract(tmp_path / 'broken.zip')


def test_download_all_fetches_every_hub_file(file_server, tmp_path, monkeypatch):
    hub = {}
    for name in ('one', 'two'):
        file_server.files[f'{name}.txt'] = name.encode()
        hub[name] = (f'{file_server.url}/{name}.txt', hashlib.sha1(name.encode()).hexdigest())
    monkeypatch.setattr(d2l, 'DATA_HUB', hub)
    (tmp_path / 'work').mkdir()
    monkeypatch.chdir(tmp_path / 'work')
    d2l.download_all()
    assert sorted(os.listdir(tmp_path / 'data')) == ['one.txt', 'two.txt']


# d2l.tensor on what pandas gives ----------------------------------------------------------------

def test_tensor_converts_object_and_bool_arrays_when_a_float_dtype_is_asked_for():
    frame = pd.DataFrame({'area': [1.5, -0.5, 0.0], 'zone': ['RL', None, 'RM']})
    values = pd.get_dummies(frame, dummy_na=True).values  # float and bool columns
    expected = torch.tensor([[1.5, 1, 0, 0], [-0.5, 0, 0, 1], [0.0, 0, 1, 0]])
    # pandas 2's object array
    assert torch.equal(d2l.tensor(values.astype(object), dtype=d2l.float32), expected)
    assert torch.equal(d2l.tensor(np.array([True, False]), dtype=d2l.float32),
                       torch.tensor([1.0, 0.0]))
    assert d2l.tensor(values.astype(object), dtype=torch.float64).dtype == torch.float64
    # everything else is torch.tensor
    assert torch.equal(d2l.tensor([[1, 2]]), torch.tensor([[1, 2]]))


def test_tensor_refuses_text_with_one_line():
    with pytest.raises(d2l.D2LError,
                       match=r"holding str values such as 'RL'; turn text columns into numbers"):
        d2l.tensor(np.array([[1.0, 'RL']], dtype=object), dtype=d2l.float32)


def test_dir_lists_the_aliases_that_attribute_access_serves():
    names = dir(d2l)
    for alias in [*d2l._TORCH_ALIASES, *d2l._METHOD_ALIASES, *d2l._MODULE_ALIASES]:
        assert alias in names, alias
        assert getattr(d2l, alias) is not None
    assert ({'torch', 'train_ch3', 'DATA_HUB', 'reshape', 'plt'} <= set(names)
            and names == sorted(names))


# The house-price lesson, in our own words: download, cache, k-fold curves, final fit, submission --

def _house_csvs(n_train: int = 120, n_test: int = 40) -> tuple[bytes, bytes]:
    """Competition-shaped stand-ins: Id, numeric and text columns with gaps, SalePrice."""
    rng = np.random.default_rng(0)

    def table(n: int, first_id: int) -> pd.DataFrame:
        quality = rng.integers(1, 11, n)
        area = rng.integers(600, 3500, n).astype(float)
        frontage = rng.integers(30, 120, n).astype(float)
        frontage[rng.random(n) < 0.2] = np.nan
        zone = rng.choice(['RL', 'RM', 'FV'], n).astype(object)
        zone[rng.random(n) < 0.1] = None
        return pd.DataFrame({'Id': np.arange(first_id, first_id + n), 'OverallQual': quality,
                             'GrLivArea': area, 'LotFrontage': frontage, 'MSZoning': zone,
                             'SalePrice': 20000 + 15000 * quality + 50 * area})
    train, test = table(n_train, 1), table(n_test, n_train + 1).drop(columns='SalePrice')
    return train.to_csv(index=False).encode(), test.to_csv(index=False).encode()


def test_house_prices_from_download_to_submission(file_server, tmp_path, monkeypatch):
    train_csv, test_csv = _house_csvs()
    for name, body in (('kaggle_house_train', train_csv), ('kaggle_house_test', test_csv)):
        file = d2l.DATA_HUB[name][0].rsplit('/', 1)[1]
        file_server.files[file] = body
        monkeypatch.setitem(d2l.DATA_HUB, name,
                            (f'{file_server.url}/{file}', hashlib.sha1(body).hexdigest()))
    (tmp_path / 'chapter').mkdir()
    monkeypatch.chdir(tmp_path / 'chapter')
    train = pd.read_csv(d2l.download('kaggle_house_train'))
    test = pd.read_csv(d2l.download('kaggle_house_test'))
    file_server.shutdown()  # from here on the files come from ../data
    assert pd.read_csv(d2l.download('kaggle_house_train')).equals(train)
    assert len(file_server.hits) == 2

    features = pd.concat([train.drop(columns=['Id', 'SalePrice']), test.drop(columns='Id')])
    numeric = features.select_dtypes('number').columns
    features[numeric] = ((features[numeric] - features[numeric].mean())
                         / features[numeric].std()).fillna(0)
    features = pd.get_dummies(features, dummy_na=True)  # bool columns under pandas 2
    X = d2l.tensor(features[:len(train)].values, dtype=d2l.float32)
    X_test = d2l.tensor(features[len(train):].values, dtype=d2l.float32)
    y = d2l.tensor(train.SalePrice.values.reshape(-1, 1), dtype=d2l.float32)
    # 3 numeric, MSZoning's 3 values and NaN
    assert X.shape == (120, 3 + 4) and not torch.isnan(X).any()

    y = torch.log(y)  # the competition scores the error of log prices, so the model predicts those

    def log_rmse(net, X, y):
        with torch.no_grad():
            return torch.sqrt(nn.functional.mse_loss(net(X), y)).item()

    def fit(X, y, X_valid=None, y_valid=None, epochs=60):
        d2l.set_seed(0)
        net = nn.Linear(X.shape[1], 1)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.2)
        train_curve, valid_curve = [], []
        for _ in range(epochs):
            for Xb, yb in d2l.load_array((X, y), 32):
                optimizer.zero_grad()
                nn.functional.mse_loss(net(Xb), yb).backward()
                optimizer.step()
            train_curve.append(log_rmse(net, X, y))
            if X_valid is not None:
                valid_curve.append(log_rmse(net, X_valid, y_valid))
        return net, train_curve, valid_curve

    k, fold = 4, len(X) // 4
    valid_errors = []
    for i in range(k):
        held_out = torch.zeros(len(X), dtype=torch.bool)
        held_out[i * fold:(i + 1) * fold] = True
        _, train_curve, valid_curve = fit(X[~held_out], y[~held_out], X[held_out], y[held_out])
        valid_errors.append(valid_curve[-1])
        if i == 0:
            d2l.plot(list(range(1, 61)), [train_curve, valid_curve], xlabel='epoch',
                     ylabel='log rmse', legend=['train', 'valid'], yscale='log')
            assert train_curve[-1] < train_curve[0] / 10  # it learns
    assert is_png('plot-1.png')
    assert np.mean(valid_errors) < 0.3  # log price is close to linear in these features

    net, _, _ = fit(X, y)
    prices = torch.exp(net(X_test)).detach().numpy().reshape(-1)
    pd.DataFrame({'Id': test.Id, 'SalePrice': prices}).to_csv('submission.csv', index=False)
    submission = pd.read_csv('submission.csv')
    assert list(submission.columns) == ['Id', 'SalePrice'] and len(submission) == 40
    assert submission.Id.tolist() == test.Id.tolist() and (submission.SalePrice > 0).all()
