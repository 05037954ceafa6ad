#include <ostream>

#include "nicsync/log.hpp"

namespace nicsync {

namespace {

class StreamLog final : public Log {
 public:
  explicit StreamLog(std::ostream& out) : out_(out) {}
  void write(LogLevel level, std::string_view message, const std::vector<LogField>&) override {
    const char* prefix = level == LogLevel::error ? "nicsync: error: "
                         : level == LogLevel::warning ? "nicsync: warning: "
                                                       : "nicsync: ";
    out_ << prefix << message << '\n';
    out_.flush();
  }

 private:
  std::ostream& out_;
};

}  // namespace

std::unique_ptr<Log> make_stream_log(std::ostream& out) { return std::make_unique<StreamLog>(out); }

}  // namespace nicsync
