// Drop reasons (see drop.hpp).
#include "tunnel/forward/drop.hpp"

namespace postern::tunnel::forward {

std::string_view to_string(Drop drop) {
  switch (drop) {
    case Drop::rx_bad_header: return "rx_bad_header";
    case Drop::rx_unknown_session: return "rx_unknown_session";
    case Drop::rx_unknown_epoch: return "rx_unknown_epoch";
    case Drop::rx_replayed: return "rx_replayed";
    case Drop::rx_too_old: return "rx_too_old";
    case Drop::rx_counter_exhausted: return "rx_counter_exhausted";
    case Drop::rx_auth_failed: return "rx_auth_failed";
    case Drop::rx_unknown_protocol: return "rx_unknown_protocol";
    case Drop::rx_bad_inner_version: return "rx_bad_inner_version";
    case Drop::rx_bad_inner: return "rx_bad_inner";
    case Drop::rx_spoofed_source: return "rx_spoofed_source";
    case Drop::rx_client_to_client: return "rx_client_to_client";
    case Drop::rx_bad_lcp: return "rx_bad_lcp";
    case Drop::tx_not_ip: return "tx_not_ip";
    case Drop::tx_no_route: return "tx_no_route";
    case Drop::tx_link_scope: return "tx_link_scope";
    case Drop::tx_no_endpoint: return "tx_no_endpoint";
    case Drop::tx_seal_failed: return "tx_seal_failed";
    case Drop::tx_tls_queue_full: return "tx_tls_queue_full";
    case Drop::tx_send_error: return "tx_send_error";
    case Drop::tun_write_error: return "tun_write_error";
    case Drop::count_: break;
  }
  return "?";
}

Drop drop_of(data::DropReason reason) {
  using R = data::DropReason;
  switch (reason) {
    case R::unknown_session: return Drop::rx_unknown_session;
    case R::unknown_epoch: return Drop::rx_unknown_epoch;
    case R::replayed: return Drop::rx_replayed;
    case R::too_old: return Drop::rx_too_old;
    case R::counter_exhausted: return Drop::rx_counter_exhausted;
    case R::auth_failed: return Drop::rx_auth_failed;
    case R::unknown_protocol: return Drop::rx_unknown_protocol;
    case R::bad_inner_version: return Drop::rx_bad_inner_version;
    case R::accepted:  // not a drop; callers never pass it
    case R::too_short:
    case R::too_long:
    case R::bad_header:
    case R::count_: break;
  }
  return Drop::rx_bad_header;
}

}  // namespace postern::tunnel::forward
