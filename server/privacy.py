"""What must never be stored or shown: the one list of secret setting names, and the scrubbing of free text
(a session's transcript, say) before it becomes a memory.

`scrub(text)` drops every `<private>...</private>` block (an unclosed one runs to the end: the user asked
for privacy and the close was lost, not the intent) and replaces what looks like a credential with
`[secret removed]`: private key blocks, well-known token shapes (OpenAI/Anthropic `sk-`, GitHub, GitLab,
Slack, AWS access keys, Google API keys, JWTs), `Bearer` credentials, passwords in URLs, and the value of
any `NAME=value` / `"name": "value"` whose name holds one of SECRET_KEY_HINTS. It errs towards removing:
a memory missing a random-looking string costs less than a leaked key.
"""

from __future__ import annotations

import re

# The one list of what is secret: a setting or env entry whose name holds one of these is never shown, never
# kept in clear in a backup, and its value is removed from text before it is stored.
SECRET_KEY_HINTS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD")
REMOVED = "[secret removed]"


def is_secret_key(name: str) -> bool:
    return any(hint in name.upper() for hint in SECRET_KEY_HINTS)


_PRIVATE = re.compile(r"<private>.*?(?:</private>|\Z)", re.IGNORECASE | re.DOTALL)
_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
                        re.DOTALL)
_TOKENS = re.compile("|".join((
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic (sk-ant-...)
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}", r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bglpat-[A-Za-z0-9_\-]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\bAIza[0-9A-Za-z_\-]{35}",
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # a JWT
    r"\bnpm_[A-Za-z0-9]{30,}", r"\bpypi-[A-Za-z0-9_\-]{30,}",
)))
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{12,}", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE)
_HINTS = "|".join(SECRET_KEY_HINTS)
# "password": "several words" and password = 'several words': the whole quoted value.
_QUOTED = re.compile(rf"""(?P<name>[A-Za-z0-9_.\-]*(?:{_HINTS})[A-Za-z0-9_.\-]*["']?\s*[=:]\s*)(?P<q>["'])(?P<value>[^"'\n]+)(?P=q)""",
                     re.IGNORECASE)
# mysql -pS3cret, curl -u admin:pw, --user admin:pw: a password given on a command line.
_COMMAND_PASSWORD = re.compile(r"(\b(?:mysql|mysqldump|mariadb|mysqladmin)\b[^\n]*?\s-p)(?!\s)(\S+)"
                               r"|((?:\s-u|--user)\s+[^\s:]+:)(\S+)", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_][A-Za-z0-9_]*%")
# NAME=value, NAME: value, "name": "value", --name value: the name holds a hint (api_key, DB_PASSWORD, token).
_ASSIGNED = re.compile(
    rf"""(?P<name>[A-Za-z0-9_.\-]*(?:{_HINTS})[A-Za-z0-9_.\-]*)(?P<sep>["']?\s*[=:]\s*["']?)"""
    r"""(?P<value>[^\s"'`,;)}\]]{6,})""",
    re.IGNORECASE,
)
_FLAG = re.compile(rf"(?P<name>--[a-z0-9\-]*(?:{_HINTS})[a-z0-9\-]*)(?P<sep>\s+)(?P<value>[^\s\-][^\s]{{5,}})",
                   re.IGNORECASE)


def scrub(text: str) -> str:
    """The text without `<private>` blocks and without anything that looks like a credential."""
    text = _PRIVATE.sub("", text)
    text = _KEY_BLOCK.sub(REMOVED, text)
    text = _TOKENS.sub(REMOVED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REMOVED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REMOVED}@", text)
    text = _COMMAND_PASSWORD.sub(lambda m: f"{m.group(1) or m.group(3)}{REMOVED}", text)
    text = _QUOTED.sub(lambda m: m.group(0) if _placeholder(m.group("value")) else
                       f"{m.group('name')}{m.group('q')}{REMOVED}{m.group('q')}", text)
    text = _FLAG.sub(_assigned, text)
    return _ASSIGNED.sub(_assigned, text)


def _assigned(match: re.Match[str]) -> str:
    if _placeholder(match.group("value")):
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{REMOVED}"


def _placeholder(value: str) -> bool:
    """Already removed, a variable ($KEY, ${KEY}, %KEY%) or a placeholder (<token>, {key}, ****): kept."""
    value = value.strip()
    return value.startswith(("[secret", "<", "{")) or bool(_VARIABLE.fullmatch(value)) or \
        set(value) <= {"*", "x", "X", "."}
