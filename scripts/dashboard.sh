#!/usr/bin/env bash
# `make dashboard`: prepare .venv, create the dashboard's data dir on first use (database, secret key and an
# `admin` account with a random password), then serve it at http://127.0.0.1:5000 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
DATA=${PANTHEONRL_DATA:-runs/dashboard}
if [ ! -f "$DATA/jobs.sqlite" ]; then
    mkdir -p "$DATA"
    (umask 077 && .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(18))" > "$DATA/admin.password")
    .venv/bin/pantheonrl web init --data-dir "$DATA" --admin admin --password-file "$DATA/admin.password"
fi
echo "pantheonrl dashboard: log in as 'admin' with the password in $DATA/admin.password"
exec .venv/bin/pantheonrl web serve --data-dir "$DATA" "$@"
