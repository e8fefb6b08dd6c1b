"""HTTPS as Ganeti serves it: a self-signed certificate (rapi.pem)."""
from __future__ import annotations

import warnings

import pytest
from urllib3.exceptions import InsecureRequestWarning

from orchestrator.rapi import Endpoint, RapiCertificateError, RapiClient, RapiUnavailable

from .conftest import PASSWORD, USER, done, spec


@pytest.fixture
def tls_cluster(make_cluster):
    cluster = make_cluster(tls=True)
    assert cluster.url.startswith("https://")
    return cluster


def test_verification_on_by_default_refuses_self_signed(tls_cluster):
    """rapi.rst: "Introduction" (SSL mode, used by default): with the default Endpoint the
    client verifies the certificate, and Ganeti's self-signed one does not pass."""
    endpoint = Endpoint(tls_cluster.url, USER, PASSWORD, timeout=5)
    assert endpoint.verify is True
    with RapiClient(endpoint, read_retries=0) as client:
        with pytest.raises(RapiCertificateError) as err:
            client.version()
    assert isinstance(err.value, RapiUnavailable) and "certificate" in err.value.message
    with RapiClient(endpoint, read_retries=0) as client, pytest.raises(RapiCertificateError):
        client.create_instance(spec("tls0"))
    assert tls_cluster.queue.jobs == {}


def test_ca_file_verifies(tls_cluster, monkeypatch, tmp_path):
    """rapi.rst: "Introduction" (SSL mode): with the cluster's certificate as the CA file the
    client verifies it and works, reads and writes, whatever REQUESTS_CA_BUNDLE says."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "unrelated-bundle.pem"))
    with RapiClient(Endpoint(tls_cluster.url, USER, PASSWORD, verify=tls_cluster.ssl_cert, timeout=5)) as client:
        assert client.version() == 2
        assert done(client, client.create_instance(spec("tls1")))["status"] == "success"
        assert client.instance("tls1")["status"] == "running"


def test_verification_off_when_configured(tls_cluster, monkeypatch, tmp_path):
    """rapi.rst: "Introduction" (SSL mode): verification off, only when asked, still talks HTTPS."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "unrelated-bundle.pem"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        with RapiClient(Endpoint(tls_cluster.url, USER, PASSWORD, verify=False, timeout=5)) as client:
            assert client.info()["name"] == tls_cluster.name


def test_missing_ca_file(tls_cluster, tmp_path):
    """rapi.rst: "Introduction" (SSL mode): a CA file that does not exist is a certificate error."""
    with RapiClient(Endpoint(tls_cluster.url, USER, PASSWORD, verify=str(tmp_path / "none.pem"), timeout=5)) as c:
        with pytest.raises(RapiCertificateError):
            c.version()
