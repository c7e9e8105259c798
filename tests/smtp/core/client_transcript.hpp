// Golden-transcript player for the SMTP *client* core (smtp::ClientSession), the mirror image of
// transcript.hpp: here S: lines are what the relay sends and C: lines what the client must write.
//   S: text        relay sends text + CRLF (consecutive S: lines are fed in ONE feed(); in
//                  byte-by-byte mode every byte alone)     S< text  same, without CRLF
//   C: text        next line the client wrote is exactly text      C~ regex   ...matches regex
//   C. N           the client wrote N more lines (a message body) - skipped unchecked
//   @ set key=value  before the first S:/C: line: tls=required|never, user=NAME, password=PW,
//                    helo=NAME
//   @ message key=value...  the message for the next @ submit: from=ADDR ("<>" = null),
//                    to=a,b,c  8bit  utf8  ret=FULL  envid=X  notify=N (every rcpt)
//                    orcpt=rfc822;x (every rcpt)
//   @ body text      content of that message (escapes: \r \n \t \\ \xHH)
//   @ submit         calls submit(); `@ submit refused` expects it to return false
//   @ tls            expects a StartTls action, then calls on_tls_established()
//   @ tls-fail why   expects a StartTls action, then calls on_tls_failed(why)
//   @ done T1 T2...  expects a MessageDone; one token per recipient: status/code/enhanced/queue_id
//                    ("-" for empty/0 fields, trailing fields may be left out), e.g.
//                    delivered/250/2.0.0/4Xyz  permanent/550/5.1.1  temporary/-/-
//   @ text N regex   text of recipient N of the last MessageDone matches regex
//   @ failed temporary|permanent substring   expects a ConnectionFailed whose reason contains it
//   @ close          expects a Close action           @ ready / @ not-ready / @ closed: state checks
//   @ timeout        calls on_timeout()   @ eof: on_closed()   @ quit: quit()
//   @ expect-timeout idle|command|data|final   current_timeout() now
//   @ secret         the output written since the last C: check carried credentials
//   # comment
// At the end every client line and every action must have been checked.
#pragma once

#include <string>
#include <vector>

#include "tests/smtp/core/transcript.hpp"

namespace postern::smtp::test {

TranscriptResult play_client_transcript(const std::string& text, FeedMode mode);

}  // namespace postern::smtp::test
