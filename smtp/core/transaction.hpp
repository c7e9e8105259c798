// One mail transaction (RFC 5321 3.3): MAIL, RCPT..., DATA or BDAT..., kept apart from the
// session so that RSET, EHLO, STARTTLS and a finished message drop it in one place.
// Contract: plain data; the session validates before it writes here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "smtp/core/data_reader.hpp"

namespace postern::smtp {

// RFC 3461 parameters of one RCPT, "" when the client gave none.
struct RecipientDsn {
  std::string notify;  // "NEVER" or a comma list of SUCCESS, FAILURE, DELAY (upper case)
  std::string orcpt;   // "rfc822;bob@example.org", exactly as received (xtext)
};

struct Transaction {
  std::string mail_from;  // reverse-path without brackets; "" for the null path <>
  std::vector<std::string> recipients;
  std::vector<RecipientDsn> recipient_dsn;  // parallel to recipients
  std::string dsn_ret;                      // RFC 3461 4.3
  std::string dsn_envid;                    // RFC 3461 4.4
  bool eight_bit = false;  // BODY=8BITMIME (RFC 6152)
  bool smtputf8 = false;   // SMTPUTF8 (RFC 6531 3.4)
  bool chunking = false;   // a BDAT was seen: DATA is then a bad sequence (RFC 3030 2)
  std::optional<DataReader> body;  // created at DATA or at the first BDAT
};

}  // namespace postern::smtp
