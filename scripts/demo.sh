#!/usr/bin/env bash
# demo.sh - `make demo`: builds tenfourd, seeds a fresh demo agency
# (Demo County PD: dispatcher Dana, officers Alvarez (2A12) and Brooks
# (2A14), incidents #1234 and #1240, BOLOs) into build/demo, prints where
# to connect and the demo credentials, then runs the server in the
# foreground on http://127.0.0.1:8410 (Ctrl-C stops it).
#
# The patrol-car scenario of DOMAIN.md is played by the tests (make
# check); this script only starts a server to try by hand.  Demo data only: the passwords are
# printed and the data directory is thrown away on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=build/demo
LISTEN=127.0.0.1:8410
URL="http://$LISTEN"
TENFOURD=build/native/tenfourd

make --no-print-directory all >/dev/null
rm -rf "$DATA"
mkdir -m 0700 -p "$DATA"

echo "tenfour demo: seeding the demo agency into $DATA"
echo
"$TENFOURD" admin --data-dir "$DATA" --schema schemas/cad.json seed-demo \
	--out "$DATA"

cat <<EOF

Server: $URL   (plain HTTP on loopback; see docs/OPERATIONS.md for TLS)
API reference with more curl examples: docs/API.md

A TOTP code for a user (the second factor; a code is accepted once):
  $TENFOURD admin --data-dir $DATA totp-code alvarez

Try it from another terminal (bash, curl, openssl):

  curl -s '$URL/v1/auth/banner?agency=demo'

  # log in as Alvarez on MDT 2A12: the device proves its key by signing
  # "tenfour-login\\n<agency>\\n<user>\\n<device>\\n<ts>" (no final newline;
  # openssl signs Ed25519 from a file, not a pipe)
  TS=\$((\$(date +%s) * 1000))
  printf 'tenfour-login\\ndemo\\nalvarez\\nmdt-2a12\\n%s' "\$TS" > /tmp/proof
  SIG=\$(openssl pkeyutl -sign -rawin -inkey $DATA/devices/mdt-2a12.pem \\
        -in /tmp/proof | openssl base64 -A | tr '+/' '-_' | tr -d '=')
  TOTP=\$($TENFOURD admin --data-dir $DATA totp-code alvarez 2>/dev/null)
  curl -s $URL/v1/auth/login -H 'Content-Type: application/json' -d '{
    "agency":"demo","user":"alvarez","password":"Copper-Canyon-Falcon-17",
    "totp":"'"\$TOTP"'","device_id":"mdt-2a12","banner_rev":1,
    "proof":{"ts":'"\$TS"',"sig":"'"\$SIG"'"}}'

  # then, with the "token" of the reply:
  curl -s $URL/v1/sync/pull -H "Authorization: Bearer \$TOKEN" \\
       -H 'X-Tenfour-Device: mdt-2a12'

Starting tenfourd (Ctrl-C stops it) ...
EOF

exec "$TENFOURD" --data-dir "$DATA" --schema schemas/cad.json \
	--listen "$LISTEN"
