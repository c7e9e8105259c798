// std::error_code registration for control-channel errors (see control_errc.hpp).
#include "tunnel/control/control_errc.hpp"

#include <string>

namespace postern::tunnel::control {

std::string_view to_string(errc e) {
  switch (e) {
    case errc::truncated: return "truncated";
    case errc::oversized_message: return "oversized_message";
    case errc::unknown_message_type: return "unknown_message_type";
    case errc::bad_attribute_length: return "bad_attribute_length";
    case errc::missing_attribute: return "missing_attribute";
    case errc::duplicate_attribute: return "duplicate_attribute";
    case errc::bad_value: return "bad_value";
    case errc::unsupported_version: return "unsupported_version";
    case errc::unexpected_message: return "unexpected_message";
    case errc::auth_failed: return "auth_failed";
    case errc::auth_unavailable: return "auth_unavailable";
    case errc::address_unavailable: return "address_unavailable";
    case errc::no_common_cipher: return "no_common_cipher";
    case errc::pool_exhausted: return "pool_exhausted";
    case errc::negotiation_failed: return "negotiation_failed";
    case errc::negotiation_timeout: return "negotiation_timeout";
    case errc::peer_dead: return "peer_dead";
    case errc::terminated_by_peer: return "terminated_by_peer";
  }
  return "unknown";
}

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "postern.control"; }
  std::string message(int ev) const override { return std::string(to_string(static_cast<errc>(ev))); }
};

}  // namespace

const std::error_category& control_category() {
  static const Category category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), control_category()}; }

}  // namespace postern::tunnel::control
