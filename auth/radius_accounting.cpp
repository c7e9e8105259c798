// RADIUS accounting sender (see radius_accounting.hpp).
#include "auth/radius_accounting.hpp"

#include "common/log.hpp"

namespace postern::auth {

using namespace radius;

std::string_view to_string(AcctStatus status) {
  switch (status) {
    case AcctStatus::start: return "Start";
    case AcctStatus::stop: return "Stop";
    case AcctStatus::interim_update: return "Interim-Update";
    case AcctStatus::accounting_on: return "Accounting-On";
    case AcctStatus::accounting_off: return "Accounting-Off";
  }
  return "unknown";
}

std::vector<Attribute> accounting_attributes(AcctStatus status, const AccountingRecord& r, std::string_view nas_identifier,
                                             std::optional<TerminateCause> cause, std::uint32_t delay_seconds) {
  std::vector<Attribute> out;
  out.push_back(integer_attribute(attr::acct_status_type, static_cast<std::uint32_t>(status)));
  out.push_back(string_attribute(attr::acct_session_id, r.session_id));
  if (status == AcctStatus::accounting_on || status == AcctStatus::accounting_off) {
    out.push_back(string_attribute(attr::nas_identifier, nas_identifier));
    out.push_back(integer_attribute(attr::acct_delay_time, delay_seconds));
    return out;
  }
  if (!r.multi_session_id.empty()) out.push_back(string_attribute(attr::acct_multi_session_id, r.multi_session_id));
  out.push_back(string_attribute(attr::user_name, r.user));
  out.push_back(string_attribute(attr::nas_identifier, nas_identifier));
  out.push_back(integer_attribute(attr::nas_port_type, kNasPortVirtual));
  out.push_back(integer_attribute(attr::service_type, kServiceFramed));
  out.push_back(integer_attribute(attr::framed_protocol, kFramedProtocolPpp));
  out.push_back(integer_attribute(attr::acct_authentic, 2));  // RADIUS
  if (r.framed_ip != 0) out.push_back(ipv4_attribute(attr::framed_ip_address, r.framed_ip));
  if (!r.calling_station.empty()) out.push_back(string_attribute(attr::calling_station_id, r.calling_station));
  for (const auto& c : r.radius_class) out.push_back(Attribute{attr::class_, c});
  out.push_back(integer_attribute(attr::acct_delay_time, delay_seconds));
  if (status != AcctStatus::start) {
    // RFC 2866 5.3/5.4 count octets modulo 2^32; RFC 2869 5.1/5.2 carry the overflows.
    out.push_back(integer_attribute(attr::acct_input_octets, static_cast<std::uint32_t>(r.input_octets)));
    out.push_back(integer_attribute(attr::acct_output_octets, static_cast<std::uint32_t>(r.output_octets)));
    out.push_back(integer_attribute(attr::acct_input_gigawords, static_cast<std::uint32_t>(r.input_octets >> 32)));
    out.push_back(integer_attribute(attr::acct_output_gigawords, static_cast<std::uint32_t>(r.output_octets >> 32)));
    out.push_back(integer_attribute(attr::acct_input_packets, static_cast<std::uint32_t>(r.input_packets)));
    out.push_back(integer_attribute(attr::acct_output_packets, static_cast<std::uint32_t>(r.output_packets)));
    out.push_back(integer_attribute(attr::acct_session_time, r.session_time));
  }
  if (status == AcctStatus::stop && cause) {
    out.push_back(integer_attribute(attr::acct_terminate_cause, static_cast<std::uint32_t>(*cause)));
  }
  return out;
}

RadiusAccounting::RadiusAccounting(const config::RadiusConfig& config, SecretBytes secret, std::string nas_session_id)
    : config_(config),
      secret_(std::move(secret)),
      nas_session_id_(std::move(nas_session_id)),
      transport_(config_.accounting_servers, secret_, config_.timeout, config_.tries) {
  AccountingRecord on;
  on.session_id = nas_session_id_;
  queue_.push_back({AcctStatus::accounting_on, std::move(on), std::nullopt, std::chrono::steady_clock::now()});
}

void RadiusAccounting::start() {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void RadiusAccounting::finish() {
  AccountingRecord off;
  off.session_id = nas_session_id_;
  submit(AcctStatus::accounting_off, std::move(off));
}

RadiusAccounting::~RadiusAccounting() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RadiusAccounting::submit(AcctStatus status, AccountingRecord record, std::optional<TerminateCause> cause) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) {
      log::warn("radius", record.session_id, "accounting_dropped",
                {{"status", to_string(status)}, {"user", record.user}, {"reason", "queue full"}});
      return;
    }
    queue_.push_back({status, std::move(record), cause, std::chrono::steady_clock::now()});
  }
  wake_.notify_one();
}

void RadiusAccounting::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    send(job);
    lock.lock();
  }
}

void RadiusAccounting::send(const Job& job) {
  auto exchange = transport_.exchange(Code::accounting_request, [&](std::uint8_t id, Authenticator* ra) {
    const auto delay = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - job.queued);
    auto packet = encode_accounting_request(
        id, secret_, accounting_attributes(job.status, job.record, config_.nas_identifier, job.cause,
                                           static_cast<std::uint32_t>(delay.count())));
    if (packet.size() >= kHeaderSize) std::copy(packet.begin() + 4, packet.begin() + 20, ra->begin());
    return packet;
  });
  const auto& r = job.record;
  if (!exchange.answer) {
    log::warn("radius", r.session_id, "accounting_lost",
              {{"status", to_string(job.status)}, {"user", r.user}, {"error", exchange.error}});
    return;
  }
  if (job.status == AcctStatus::accounting_on || job.status == AcctStatus::accounting_off) {
    log::info("radius", r.session_id, "accounting_sent",
              {{"status", to_string(job.status)}, {"server", exchange.server}, {"nas_identifier", config_.nas_identifier}});
    return;
  }
  log::info("radius", r.session_id, "accounting_sent",
            {{"status", to_string(job.status)}, {"user", r.user}, {"server", exchange.server},
             {"input_octets", r.input_octets}, {"output_octets", r.output_octets}, {"session_time", r.session_time}});
}

}  // namespace postern::auth
