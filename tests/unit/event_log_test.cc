// Structured log lines: role, node, level and event fields in order; quoting; the level filter.
#include "common/logging/event_log.h"

#include <gtest/gtest.h>

#include <sstream>

namespace dllm::logging {
namespace {

TEST(EventLog, OneKeyValueLinePerEventWithRoleAndNode) {
  std::ostringstream out;
  init("decode", "decode-7", Level::kInfo, &out);
  event(Level::kInfo, "request_done",
        {field("request_id", "req-1"), field("outcome", "ok"), field("generated", 16),
         field("text", "two words")});
  event(Level::kDebug, "step", {field("n", 1)});  // below the level: dropped
  const std::string line = out.str();
  EXPECT_NE(line.find("level=info role=decode node=decode-7 event=request_done request_id=req-1 "
                      "outcome=ok generated=16 text=\"two words\"\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("event=step"), std::string::npos);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  Level level;
  EXPECT_TRUE(parse_level("warn", &level).ok());
  EXPECT_EQ(level, Level::kWarn);
  EXPECT_FALSE(parse_level("loud", &level).ok());
  init("dllm", "-", Level::kInfo);  // back to stderr for other tests
}

}  // namespace
}  // namespace dllm::logging
