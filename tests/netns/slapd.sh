# A private OpenLDAP slapd for the directory tests (sourced after lib.sh): its own slapd.conf,
# database and TLS certificate in $WORK/ldap, data loaded with slapadd, LDAPS only.
# start_slapd NS URI: runs slapd in namespace NS listening on URI (e.g. ldaps://127.0.0.1:6360/)
# with the test PKI's CA and a server certificate for 127.0.0.1; stop_slapd stops it.
# Directory: dc=site,dc=test with ou=people (alice in group vpn, bob not) and ou=groups.
SLAPD_PASSWORD_ALICE="alice directory pw"
SLAPD_PASSWORD_BOB="bob directory pw"
SLAPD_SERVICE_PASSWORD="postern service pw"

write_slapd_config() {
  local dir="$WORK/ldap"
  mkdir -p "$dir/db"
  "$POSTERN_BIN" pki issue "$WORK/pki" ldap --server --server-name 127.0.0.1 >>"$WORK/pki.log" 2>&1 || fail "pki issue ldap"
  cat >"$dir/slapd.conf" <<SLAPDCONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $WORK/pki/ca.pem
TLSCertificateFile $WORK/pki/ldap.pem
TLSCertificateKeyFile $WORK/pki/ldap.key
database mdb
suffix "dc=site,dc=test"
rootdn "cn=admin,dc=site,dc=test"
directory $dir/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
SLAPDCONF
  cat >"$dir/data.ldif" <<LDIF
dn: dc=site,dc=test
objectClass: dcObject
objectClass: organization
o: site
dc: site

dn: ou=people,dc=site,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=site,dc=test
objectClass: organizationalUnit
ou: groups

dn: cn=postern,dc=site,dc=test
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: postern
userPassword: $(slappasswd -s "$SLAPD_SERVICE_PASSWORD")

dn: uid=alice,ou=people,dc=site,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Example
mail: alice@example.test
userPassword: $(slappasswd -s "$SLAPD_PASSWORD_ALICE")

dn: uid=bob,ou=people,dc=site,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Example
userPassword: $(slappasswd -s "$SLAPD_PASSWORD_BOB")

dn: cn=vpn,ou=groups,dc=site,dc=test
objectClass: groupOfNames
cn: vpn
member: uid=alice,ou=people,dc=site,dc=test
LDIF
  slapadd -f "$dir/slapd.conf" -l "$dir/data.ldif" >"$WORK/slapadd.log" 2>&1 || { cat "$WORK/slapadd.log" >&2; fail "slapadd"; }
  printf '%s\n' "$SLAPD_SERVICE_PASSWORD" >"$WORK/ldap.pass"
  chmod 600 "$WORK/ldap.pass"
}

start_slapd() {
  local ns=$1 uri=$2
  # -d: stay in the foreground (the test owns the process) and log connections and binds.
  ip netns exec "$ns" slapd -f "$WORK/ldap/slapd.conf" -h "$uri" -d stats >>"$WORK/slapd.log" 2>&1 &
  PIDS+=($!)
  SLAPD_PID=$!
  wait_for 10 "slapd on $uri" ip netns exec "$ns" env LDAPTLS_CACERT="$WORK/pki/ca.pem" \
    ldapwhoami -x -H "$uri" -D "cn=postern,dc=site,dc=test" -w "$SLAPD_SERVICE_PASSWORD"
}

stop_slapd() {
  kill "$SLAPD_PID" 2>/dev/null || true
  wait "$SLAPD_PID" 2>/dev/null || true
}
