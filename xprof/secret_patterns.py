"""What a secret looks like: secret-sounding names and the shapes of well-known tokens.

The rules follow the plugins of Yelp's detect-secrets 1.5.0 (Apache-2.0), named after each
rule. detect-secrets itself is not imported: importing any of its plugins loads the whole
package (about 100 ms and 20 MB RSS), more than the agent's start and memory budgets allow,
so its few regexes are kept here, adapted to mask the secret part only.
"""

from __future__ import annotations

import re

# KeywordDetector's DENYLIST (api_?key, auth_?key, ..., password, passwd, pwd, secret),
# widened with words that name secrets in ML tooling (tokens, connection strings).
SECRET_WORDS = (
    r"password|passwd|passphrase|secret|credential|contrase(?:ñ|n)a"
    r"|api_?key|api_?token|auth_?key|auth_?token|access_?key|access_?token|service_?key"
    r"|account_?key|priv(?:ate)?_?key|client_?key|db_?pass|database_?pass|key_?pass"
    r"|connection_?string|conn_?str|authorization|refresh_?token|session_?token"
)
# Names that end in one of these (DB_PASS, --pass, HF_TOKEN, --key) are secret too.
SECRET_LAST = r"key|token|pass|pw|pwd|auth|dsn|cookie|signature|session_key"
SECRET_NAME = re.compile(rf"({SECRET_WORDS})|(^|_)({SECRET_LAST})$")

# Names that match the rules above yet hold no secret.
NOT_SECRET = frozenset({
    "pwd", "oldpwd",  # the shell's working directories
    "pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token",
    "mask_token", "max_token", "num_token",  # tokenizer settings
})

# Values that are never secret, whatever the name (``--use-auth-token true``).
TRIVIAL_VALUES = frozenset({"", "true", "false", "yes", "no", "on", "off", "none", "null"})

# Token shapes, each named for the detect-secrets plugin it follows (HuggingFace and the
# newer OpenAI/GitHub formats have no plugin there).
TOKEN_SHAPES: dict[str, str] = {
    "AWSKeyDetector": r"\b(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}\b",
    "GitHubTokenDetector": r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36,}"
                           r"|github_pat_[A-Za-z0-9_]{22,})",
    "GitLabTokenDetector": r"\b(?:glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_-]{20,50}",
    "SlackDetector": r"\b(?i:xox[abposr]-(?:[0-9A-Za-z]+-)+[0-9A-Za-z]+)"
                     r"|https://hooks\.slack\.com/services/T\w+/B\w+/\w+",
    "OpenAIDetector": r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}",
    "HuggingFaceToken": r"\bhf_[A-Za-z0-9]{30,}",
    "StripeDetector": r"\b[rs]k_live_[0-9A-Za-z]{24,}",
    "PypiTokenDetector": r"\bpypi-AgE[A-Za-z0-9_-]{50,}",
    "SendGridDetector": r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    "JwtTokenDetector": r"\beyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.[A-Za-z0-9_.+/=-]*",
    "PrivateKeyDetector": r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                          r"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
                          r"|PuTTY-User-Key-File-\d[\s\S]*?(?:Private-MAC: \S+|\Z)",
    "BearerToken": r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
}
TOKENS = re.compile("|".join(f"(?:{p})" for p in TOKEN_SHAPES.values()))

# BasicAuthDetector: the password of scheme://user:password@host. The user may be empty
# (redis://:pw@host) and the password may hold "@" (the last "@" before the host ends it).
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:)([^\s/?#]*)@")

# A name in free text: ``--api-key``, ``-p``, ``DB_PASS``, ``"password"``, ``AccountKey``.
NAME_IN_TEXT = re.compile(r"(?<![\w-])(--?)?([A-Za-z_][\w.-]*)")
# What follows a flag name: ``=value`` or `` value`` (a value may start with one "-").
_QUOTED = r"""(?:"([^"\n]*)"|'([^'\n]*)'|`([^`\n]*)`"""
FLAG_VALUE = re.compile(rf"""(?:=|[ \t]+){_QUOTED}|((?!--)[^\s"'`]+))""")
# What follows an assignment name: ``=value``, ``: value``, ``"key": "value"``, ``:= value``.
ASSIGNED_VALUE = re.compile(rf"""["'\]]{{0,2}}[ \t]*(?::=|=|:)[ \t]*{_QUOTED}|([^\s"'`,;]+))""")
