# A private FreeRADIUS 3 for the directory tests (sourced after lib.sh): a minimal radiusd.conf
# written into $WORK/radius (clients with require_message_authenticator, pap + files for
# Access-Request, the detail module writing every Accounting-Request to
# $WORK/radius/acct/detail), run in the foreground with -X so its log shows each packet.
# Users: alice (Framed-IP-Address 10.77.0.77), carol (always rejected, with a Reply-Message),
# dave (Framed-IP-Address 10.99.0.5, outside the tests' pools) and erin (Framed-IP-Address
# 10.77.0.77, alice's).
RADIUS_SECRET="postern radius secret"
RADIUS_PASSWORD_ALICE="alice radius pw"
RADIUS_PASSWORD_CAROL="carol radius pw"
RADIUS_PASSWORD_DAVE="dave radius pw"
RADIUS_PASSWORD_ERIN="erin radius pw"
RADIUS_FRAMED_IP=10.77.0.77
RADIUS_OUTSIDE_IP=10.99.0.5

# write_radius_config [LISTEN_IP [CLIENTS]]: FreeRADIUS listens on LISTEN_IP:1812/1813
# (default 127.0.0.1) and answers CLIENTS (an address or a network, default 127.0.0.1).
write_radius_config() {
  local dir="$WORK/radius" listen=${1:-127.0.0.1} clients=${2:-127.0.0.1}
  mkdir -p "$dir/log" "$dir/run" "$dir/acct"
  cat >"$dir/radiusd.conf" <<RADIUSCONF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
datarootdir = /usr/share
dictdir = /usr/share/freeradius
libdir = /usr/lib/freeradius
raddbdir = $dir
confdir = $dir
modconfdir = $dir
logdir = $dir/log
radacctdir = $dir/acct
run_dir = $dir/run
db_dir = $dir
name = freeradius
pidfile = $dir/run/radiusd.pid
max_request_time = 30
cleanup_delay = 2
max_requests = 1024
hostname_lookups = no
log {
  destination = files
  file = $dir/log/radius.log
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 2
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 4
  max_requests_per_server = 0
}
client postern {
  ipaddr = $clients
  secret = "$RADIUS_SECRET"
  require_message_authenticator = yes
}
modules {
  pap {
  }
  files {
    filename = $dir/users
  }
  detail {
    filename = $dir/acct/detail
    permissions = 0600
    header = "%t"
  }
}
server default {
  listen {
    type = auth
    ipaddr = $listen
    port = 1812
  }
  listen {
    type = acct
    ipaddr = $listen
    port = 1813
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  # FreeRADIUS before 3.2.5 sends no Message-Authenticator in its answers unless told to;
  # postern drops such answers (Blast-RADIUS), as every client should.
  post-auth {
    update reply {
      Message-Authenticator := 0x00
    }
    Post-Auth-Type REJECT {
      update reply {
        Message-Authenticator := 0x00
      }
    }
  }
  preacct {
  }
  accounting {
    detail
  }
}
RADIUSCONF
  cat >"$dir/users" <<RADIUSUSERS
alice Cleartext-Password := "$RADIUS_PASSWORD_ALICE"
      Framed-IP-Address = $RADIUS_FRAMED_IP,
      Reply-Message = "welcome alice"

carol Cleartext-Password := "$RADIUS_PASSWORD_CAROL", Auth-Type := Reject
      Reply-Message = "carol may not use the VPN"

dave Cleartext-Password := "$RADIUS_PASSWORD_DAVE"
      Framed-IP-Address = $RADIUS_OUTSIDE_IP

erin Cleartext-Password := "$RADIUS_PASSWORD_ERIN"
      Framed-IP-Address = $RADIUS_FRAMED_IP
RADIUSUSERS
  printf '%s\n' "$RADIUS_SECRET" >"$WORK/radius.secret"
  chmod 600 "$WORK/radius.secret"
}

start_radius() {
  local ns=$1
  ip netns exec "$ns" freeradius -X -d "$WORK/radius" >>"$WORK/freeradius.log" 2>&1 &
  PIDS+=($!)
  RADIUS_PID=$!
  wait_for 15 "freeradius to listen" grep -q "Ready to process requests" "$WORK/freeradius.log"
}

stop_radius() {
  kill "$RADIUS_PID" 2>/dev/null || true
  wait "$RADIUS_PID" 2>/dev/null || true
}
