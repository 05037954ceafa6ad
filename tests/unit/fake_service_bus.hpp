#pragma once
/// In-memory ServiceBus and CommandRunner for unit tests: they record every call and fail on demand.
///
///   test::FakeServiceBus bus;
///   bus.service = NetworkService::networkd;
///   test::FakeCommandRunner commands;
///   ... notify_network_service(RendererKind::netplan, "/", &bus, commands, done) ...
///   CHECK(commands.runs == std::vector<std::vector<std::string>>{{"/usr/sbin/netplan", "generate"}});
///   CHECK(bus.calls == std::vector<std::string>{"active_network_service", "reload_networkd"});

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nicsync/service_bus.hpp"

namespace nicsync::test {

class FakeServiceBus : public ServiceBus {
 public:
  /// What active_network_service() answers.
  NetworkService service = NetworkService::none;
  /// Every call, in order, failed ones included: "active_network_service", "reload_networkd",
  /// "reload_network_manager".
  std::vector<std::string> calls;

  /// The call named `call` (as recorded in `calls`) fails with `message` from now on.
  void fail(std::string call, std::string message) { failures_[std::move(call)] = std::move(message); }

  Result<NetworkService> active_network_service() override {
    NICSYNC_TRY(record("active_network_service"));
    return service;
  }
  Result<void> reload_networkd() override { return record("reload_networkd"); }
  Result<void> reload_network_manager() override { return record("reload_network_manager"); }

 private:
  Result<void> record(const std::string& call) {
    calls.push_back(call);
    auto failure = failures_.find(call);
    if (failure != failures_.end()) return Error{failure->second};
    return {};
  }

  std::map<std::string, std::string> failures_;
};

class FakeCommandRunner : public CommandRunner {
 public:
  /// Every argv run or started, in order, failed ones included.
  std::vector<std::vector<std::string>> runs;
  /// When set, every run fails with this message.
  std::optional<std::string> failure;
  /// Called when a program is started with start(), and when the caller waits for it (each
  /// wait() call), e.g. to see what the run did while the program was running.
  std::function<void()> on_start;
  std::function<void()> on_wait;

  Result<void> run(const std::vector<std::string>& argv) override {
    runs.push_back(argv);
    if (failure) return Error{*failure};
    return {};
  }

  std::unique_ptr<StartedCommand> start(const std::vector<std::string>& argv) override {
    if (on_start) on_start();
    return std::make_unique<Started>(run(argv), on_wait);
  }

 private:
  class Started final : public StartedCommand {
   public:
    Started(Result<void> result, std::function<void()> on_wait)
        : result_(std::move(result)), on_wait_(std::move(on_wait)) {}
    Result<void> wait() override {
      if (on_wait_) on_wait_();
      return result_;
    }

   private:
    Result<void> result_;
    std::function<void()> on_wait_;
  };
};

}  // namespace nicsync::test
