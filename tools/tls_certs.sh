#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# tls_certs.sh - make throwaway TLS keys and certificates for hstrace's tests and demo.
#
#   tools/tls_certs.sh DIR [rsa|ec]
#
# Everything is generated here with openssl (nothing is downloaded) into DIR, which must exist:
#   ca.pem, ca.key                 a test CA
#   server.pem, server.key         RSA 2048 server certificate signed by that CA; subjectAltName
#                                  DNS:localhost, DNS:hstrace.test, IP:127.0.0.1, IP:::1
#   chain.pem                      server.pem followed by ca.pem (a 2-certificate chain)
#   other-ca.pem, other-ca.key     a second CA that signed nothing the servers use: a client
#                                  that trusts only it rejects server.pem
#   untrusted.pem, untrusted.key   a self-signed RSA certificate with the same names, trusted
#                                  by nobody
#   expired.pem, expired.key       like server.pem (same CA, names and key type) but valid
#                                  only from 2020-01-01 to 2020-01-02: expired
#   client-other.pem, .key         a client certificate (CN hstrace client, clientAuth) signed
#                                  by other-ca: a server that trusts only ca.pem rejects it
# With a second argument "ec", server.key and untrusted.key are ECDSA P-256 keys instead of RSA
# 2048 (same files and names otherwise): much cheaper to sign with, for handshake-rate
# benchmarks. "rsa", the default, is the behaviour without it.
# The keys are unencrypted and valid for 2 days: for loopback tests only.
set -eu

dir=${1:?usage: tls_certs.sh DIR [rsa|ec]}
keytype=${2:-rsa}
case $keytype in
rsa) newkey="-newkey rsa:2048" ;;
ec) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
*) echo "tls_certs.sh: key type must be rsa or ec, not $keytype" >&2; exit 1 ;;
esac
[ -d "$dir" ] || { echo "tls_certs.sh: $dir is not a directory" >&2; exit 1; }
cd "$dir"

SAN="subjectAltName=DNS:localhost,DNS:hstrace.test,IP:127.0.0.1,IP:::1"
err=tls_certs.log
: >"$err"

run() {
	"$@" >>"$err" 2>&1 || { echo "tls_certs.sh: failed: $*" >&2; cat "$err" >&2; exit 1; }
}

ca() { # name subject
	run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$1.key" -out "$1.pem" -subj "$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

ca ca "/CN=hstrace test CA"
ca other-ca "/CN=hstrace other test CA"

run openssl req $newkey -nodes -keyout server.key -out server.csr \
	-subj "/CN=localhost" -addext "$SAN"
printf '%s\n%s\n%s\n' "$SAN" "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >server.ext
run openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-extfile server.ext -out server.pem
cat server.pem ca.pem >chain.pem

run openssl req -x509 $newkey -nodes -days 2 -keyout untrusted.key -out untrusted.pem \
	-subj "/CN=localhost" -addext "$SAN"

# An expired server certificate: `openssl x509 -req` cannot back-date, `openssl ca` can.
mkdir -p ca.db
: >ca.db/index.txt
echo 1000 >ca.db/serial
cat >ca.cnf <<'EOF_CNF'
[ca]
default_ca = test_ca
[test_ca]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
EOF_CNF
run openssl req $newkey -nodes -keyout expired.key -out expired.csr \
	-subj "/CN=localhost" -addext "$SAN"
run openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
	-out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext

run openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client-other.key \
	-out client.csr -subj "/CN=hstrace client"
printf '%s\n%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=clientAuth" >client.ext
run openssl x509 -req -in client.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
	-days 2 -extfile client.ext -out client-other.pem

rm -rf expired.csr client.csr client.ext other-ca.srl ca.cnf ca.db
rm -f server.csr server.ext ca.srl "$err"
chmod 600 ./*.key
