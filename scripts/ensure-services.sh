#!/usr/bin/env bash
# Make sure the services handoff needs answer: start what is installed, install what is
# missing when we are root (Debian/Ubuntu apt-get), otherwise say exactly what to do.
#   scripts/ensure-services.sh redis [postgres] [chromium]
set -u

say() { printf '==> %s\n' "$*"; }
fail() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=""
apt_install() {
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    say "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || return 1
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() {  # host port seconds
    for _ in $(seq 1 "$3"); do port_open "$1" "$2" && return 0; sleep 1; done
    return 1
}

ensure_redis() {
    local url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
    local hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
    local host="${hostport%%:*}" port="${hostport##*:}"
    [ "$port" = "$hostport" ] && port=6379
    if port_open "$host" "$port"; then say "Redis answers on $host:$port"; return 0; fi
    case "$host" in 127.0.0.1|localhost) ;; *) fail "Redis at $host:$port does not answer (REDIS_URL=$url). Start it, or unset REDIS_URL to use a local one." ;; esac
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server || fail "Redis is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run this again."
    fi
    say "starting redis-server on 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir /tmp --logfile "" >/dev/null || fail "redis-server did not start"
    wait_for 127.0.0.1 "$port" 10 || fail "redis-server was started but does not answer on port $port"
    say "Redis answers on 127.0.0.1:$port"
}

ensure_postgres() {
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
        say "PostgreSQL answers on 127.0.0.1:5432"
    else
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            apt_install postgresql || fail "PostgreSQL is not installed. Install it (Debian/Ubuntu: sudo apt-get install postgresql) or point TEST_DATABASE_URL at a server, and run this again."
        fi
        for dir in /etc/postgresql/*/main; do
            version="$(basename "$(dirname "$dir")")"
            say "starting PostgreSQL $version"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
        done
        wait_for 127.0.0.1 5432 20 || fail "PostgreSQL was started but does not answer on 127.0.0.1:5432"
        say "PostgreSQL answers on 127.0.0.1:5432"
    fi
    # A fresh install has no role for us yet: create a superuser role named after this
    # OS user, so the test suite can create its database through the local socket.
    if ! psql -X -q -d postgres -c "select 1" >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && id postgres >/dev/null 2>&1; then
        say "creating PostgreSQL role $(id -un)"
        runuser -u postgres -- psql -X -q -d postgres -c "CREATE ROLE \"$(id -un)\" SUPERUSER LOGIN" >/dev/null \
            || fail "could not create the PostgreSQL role $(id -un)"
    fi
}

ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then say "Chromium: $(command -v chromium)"; return 0; fi
    apt_install chromium || fail "Chromium is not installed and could not be installed. Install Debian's 'chromium' package (sudo apt-get install chromium) for the browser tests."
    say "Chromium: $(command -v chromium)"
}

for service in "$@"; do
    case "$service" in
        redis) ensure_redis ;;
        postgres) ensure_postgres ;;
        chromium) ensure_chromium ;;
        *) fail "unknown service: $service" ;;
    esac
done
