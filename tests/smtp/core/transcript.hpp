// Golden-transcript player for the SMTP session core.
// A transcript is a text file of lines:
//   C: text      client sends text + CRLF        C< text   client sends text, no CRLF
//   S: text      next reply line is exactly text  S~ regex  next reply line matches regex
//   S^ prefix    next reply line starts with it   S... pfx  skip reply lines up to one starting with pfx
//   M: text / M~ regex   next line of the last stored message (after "@ store ok")
//   M* prefix           skip one header field of the stored message (first line starts with prefix)
//   E: from to1 to2...   envelope of the last stored message ("<>" for the null path; see
//                        expect_envelope for DSN parameters)
//   @ set key=value      session config before the first C:/S: line (see transcript_test.cpp)
//   @ auth ok|fail [user] / @ store ok|fail / @ tls / @ starttls-pending / @ closed / @ waiting / @ timeout command|data
//   @ messages N        number of messages stored so far          # comment
//   @ discarded N       number of messages begun and discarded so far (DiscardMessage)
// The player performs BeginMessage / MessageData / DiscardMessage as the adapter does and
// checks their order; "@ store" takes the bytes streamed since the BeginMessage.
// Escapes in C:, C<, S:, M: text: \r \n \t \\ \xHH. Consecutive client lines are fed in ONE
// feed() (so a run of C: lines is a pipelined batch); in split mode every byte is fed alone.
#pragma once

#include <string>
#include <vector>

namespace postern::smtp::test {

enum class FeedMode { batched, byte_by_byte };

struct TranscriptResult {
  bool ok = true;
  std::vector<std::string> failures;  // "line N: ..." messages
};

// Plays a transcript; the file name is used in messages only.
TranscriptResult play_transcript(const std::string& text, FeedMode mode);
std::string unescape(const std::string& text);

}  // namespace postern::smtp::test
