# Sourced by the benchmark scripts (from the repository root): a moto server of their own on a
# free port, apart from anything on 4566.
#   start_private_moto    sets `port` and `moto` (the server's pid); returns once it answers,
#                         fails (server stopped) if it does not within 20 s.
# The caller sets its own EXIT trap to kill "$moto".
start_private_moto() {
  local launcher
  launcher="$(scripts/local-aws path | tail -n 1)"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$launcher" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  moto=$!
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "moto's server did not answer on port $port within 20 s" >&2
  kill "$moto" 2>/dev/null || true
  return 1
}
