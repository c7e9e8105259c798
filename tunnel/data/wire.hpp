// Every size, type number and limit of the data channel, in one place (like WireGuard's
// messages.h), so framing, crypto, the daemon and docs/data-channel.md agree.
//
// Frame (GRE-in-UDP, RFC 8086 section 3: the UDP payload starts with the GRE header; header per
// RFC 2890 with the Key and Sequence Number fields present):
//   0      0x30 (K and S set; C, R, s, Recur = 0)      1   0x00 (flags 0, version 0)
//   2..3   protocol type 0x880B (PPP), big-endian
//   4..7   GRE key = (receiver_session_id << 8) | (epoch & 0xff), big-endian
//   8..11  sequence = low 32 bits of the sender's 64-bit per-direction packet counter
//   12..   AEAD(PPP protocol (2, BE) | payload) then a 16-byte tag; AAD = bytes 0..11;
//          nonce = 4 zero bytes || 64-bit counter, big-endian.
// Contract: constants only; no code that touches packets.
#pragma once

#include "common/cipher.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace postern::tunnel::data {

// --- framing -------------------------------------------------------------------------------
inline constexpr std::size_t kGreHeaderSize = 12;
inline constexpr std::size_t kPppProtocolSize = 2;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kNonceSize = 12;
// The caller puts the payload at this offset of its buffer so seal works in place.
inline constexpr std::size_t kSealHeadroom = kGreHeaderSize + kPppProtocolSize;
// Bytes the caller must leave free after the payload for the tag.
inline constexpr std::size_t kSealTailroom = kTagSize;
// Datagram size = payload + kOverhead (30). With UDP (8) and IPv4 (20) / IPv6 (40) outside.
inline constexpr std::size_t kOverhead = kSealHeadroom + kTagSize;
inline constexpr std::size_t kMinFrameSize = kOverhead;  // empty payload
inline constexpr std::size_t kMaxDatagramSize = 65535 - 8;  // UDP payload limit over IPv6

inline constexpr std::uint8_t kGreFlagsByte = 0x30;  // K (0x20) | S (0x10), RFC 2890 section 2
inline constexpr std::uint8_t kGreVersionByte = 0x00;
inline constexpr std::uint16_t kGreProtocolPpp = 0x880B;  // RFC 2637 (PPTP) GRE protocol type

inline constexpr std::uint32_t kMaxSessionId = 0xFFFFFF;  // 24 bits in the GRE key
inline constexpr std::uint32_t kEpochMask = 0xFF;        // low 8 bits of the GRE key

// PPP protocol field values (RFC 1661 section 2, IANA PPP DLL protocol numbers).
enum class PppProtocol : std::uint16_t { ipv4 = 0x0021, ipv6 = 0x0057, lcp = 0xC021 };
std::string_view to_string(PppProtocol protocol);
// True for the three values above; the data channel drops every other protocol number.
bool is_known_ppp_protocol(std::uint16_t value);

// The AEAD of a session's keys: the one cipher enum (common/cipher.hpp). Both use 32-byte keys,
// 12-byte nonces and 16-byte tags. `Suite` is the data channel's name for it, not another type.
using Suite = ::postern::Cipher;
inline constexpr Suite kDefaultSuite = Suite::aes_256_gcm;

// --- key export (the control layer calls SSL_export_keying_material) -----------------------
// RFC 8446 section 7.5 / RFC 5705: label, context = client_sid (4 BE) || server_sid (4 BE) ||
// epoch (4 BE); 64 bytes out: [0, 32) client->server key, [32, 64) server->client key.
inline constexpr std::string_view kExporterLabel = "EXPORTER-postern-data-v1";
inline constexpr std::size_t kExporterContextSize = 12;
inline constexpr std::size_t kExporterOutputSize = 2 * kKeySize;
inline constexpr std::uint32_t kFirstEpoch = 0;

// --- replay protection (RFC 6479) -----------------------------------------------------------
// Bitmap size; one 64-bit block is kept as slack, so the usable window is 64 bits smaller.
inline constexpr std::size_t kReplayWindowBits = 8192;
inline constexpr std::uint64_t kReplayWindowSize = kReplayWindowBits - 64;

// --- rekeying and key-usage limits ----------------------------------------------------------
// Rekey well before the AEAD limits: at 2^28 packets of <= 64 KiB an AES-256-GCM key stays far
// below the confidentiality bounds discussed in RFC 9001 section 6.6 (which assumes 2^16-byte
// packets); the hard reject limit leaves room for a control layer that is slow to install keys.
inline constexpr std::chrono::seconds kRekeyAfterTime{120};
inline constexpr std::uint64_t kRekeyAfterPackets = std::uint64_t{1} << 28;
inline constexpr std::chrono::seconds kRejectAfterTime{180};
inline constexpr std::uint64_t kRejectAfterPackets = std::uint64_t{1} << 30;
// The receiver keeps the previous epoch's key this long after switching, for reordered packets.
inline constexpr std::chrono::seconds kPreviousKeyOverlap{10};
// Resynchronisation of a receiver that missed every packet of an epoch (the sender is then two
// or more epochs ahead): a packet whose epoch byte names an epoch current + 2 .. current +
// kMaxEpochLead asks for that key (wanted_epoch), and the first packet that authenticates under
// it makes it current. The hint comes from an unauthenticated packet, so it changes at most once
// per kEpochHintInterval (one key derivation per second, whatever a forger sends).
inline constexpr std::uint32_t kMaxEpochLead = 128;
inline constexpr std::chrono::seconds kEpochHintInterval{1};
// The 64-bit counter stops here (WireGuard REJECT_AFTER_MESSAGES): never wraps, never reuses.
inline constexpr std::uint64_t kRejectAfterCounter = ~std::uint64_t{0} - kReplayWindowBits;

// Tunable copy of the limits above (tests shrink them; the daemon uses the defaults).
struct Limits {
  std::chrono::steady_clock::duration rekey_after_time = kRekeyAfterTime;
  std::uint64_t rekey_after_packets = kRekeyAfterPackets;
  std::chrono::steady_clock::duration reject_after_time = kRejectAfterTime;
  std::uint64_t reject_after_packets = kRejectAfterPackets;
  std::chrono::steady_clock::duration previous_key_overlap = kPreviousKeyOverlap;
  // A packet-count rekey waits until the epoch is at least this old. The peer installs the key
  // of epoch n + 2 when it first sees epoch n + 1, from its control thread; at several Gbit/s a
  // tiny rekey_after_packets would otherwise end epoch n + 1 before that install lands and the
  // first packets of n + 2 would be dropped. The daemon sets it (session_setup.cpp); 0 = off.
  std::chrono::steady_clock::duration min_epoch_time{0};
};

// --- LCP echo (RFC 1661 section 5.8) --------------------------------------------------------
inline constexpr std::uint8_t kLcpEchoRequest = 9;
inline constexpr std::uint8_t kLcpEchoReply = 10;
inline constexpr std::size_t kLcpEchoHeaderSize = 8;  // code, id, length (2), magic (4)

// --- GRE key helpers ------------------------------------------------------------------------
constexpr std::uint32_t make_gre_key(std::uint32_t receiver_session_id, std::uint32_t epoch) {
  return ((receiver_session_id & kMaxSessionId) << 8) | (epoch & kEpochMask);
}
constexpr std::uint32_t session_id_of(std::uint32_t gre_key) { return gre_key >> 8; }
constexpr std::uint8_t epoch_byte_of(std::uint32_t gre_key) {
  return static_cast<std::uint8_t>(gre_key & kEpochMask);
}

}  // namespace postern::tunnel::data
