import pytest

from agents.mailer import SmtpTarget, SmtpUrlError, parse_smtp_url


def test_plain_smtp_defaults() -> None:
    assert parse_smtp_url("smtp://relay.example") == SmtpTarget(
        host="relay.example", port=25, tls=False, starttls="opportunistic", timeout=30.0
    )


def test_smtps_is_implicit_tls_without_starttls() -> None:
    target = parse_smtp_url("smtps://relay.example")
    assert (target.port, target.tls, target.starttls) == (465, True, "never")


@pytest.mark.parametrize("mode", ["opportunistic", "require", "never", "REQUIRE"])
def test_starttls_modes(mode: str) -> None:
    target = parse_smtp_url(f"smtp://relay.example:587?starttls={mode}")
    assert (target.port, target.starttls) == (587, mode.lower())


def test_credentials_are_url_decoded() -> None:
    target = parse_smtp_url("smtp://apikey%40acme:p%40ss%3Aw%2Frd@relay.example:2525")
    assert target.username == "apikey@acme"
    assert target.password == "p@ss:w/rd"


def test_password_never_shows() -> None:
    target = parse_smtp_url("smtp://user:hunter2@relay.example")
    assert "hunter2" not in repr(target)
    assert "hunter2" not in target.display
    assert target.display == "smtp://user@relay.example:25"


def test_ipv6_host() -> None:
    target = parse_smtp_url("smtp://[::1]:2525")
    assert (target.host, target.port) == ("::1", 2525)
    assert target.display == "smtp://[::1]:2525"


def test_timeout_and_verify_parameters() -> None:
    target = parse_smtp_url("smtps://relay.example?timeout=7.5&verify=false", timeout=60)
    assert (target.timeout, target.verify) == (7.5, False)
    assert parse_smtp_url("smtp://relay.example", timeout=12).timeout == 12


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://relay.example", "unsupported scheme 'http'"),
        ("relay.example:25", "unsupported scheme"),
        ("lmtp://relay.example", "use smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://relay.example:99999", "not a valid SMTP URL"),
        ("smtp://relay.example:abc", "not a valid SMTP URL"),
        ("smtp://relay.example/inbox", "no path"),
        ("smtp://relay.example?starttls=maybe", "starttls must be one of"),
        ("smtps://relay.example?starttls=require", "already TLS"),
        ("smtp://relay.example?tls=yes", "unknown SMTP URL parameter 'tls'"),
        ("smtp://relay.example?timeout=0", "timeout must be positive"),
        ("smtp://relay.example?timeout=soon", "timeout must be a number"),
        ("smtp://relay.example?verify=perhaps", "verify must be true or false"),
        ("smtp://:secret@relay.example", "password but no user name"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(SmtpUrlError, match=complaint) as info:
        parse_smtp_url(url)
    assert "secret" not in str(info.value)
