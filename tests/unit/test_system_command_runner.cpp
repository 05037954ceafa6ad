#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "nicsync/service_bus.hpp"

using namespace nicsync;

namespace {

Result<void> run(const std::vector<std::string>& argv) { return make_command_runner()->run(argv); }

std::string error_of(const Result<void>& result) { return result.ok() ? "(ok)" : result.error().message; }

std::filesystem::path make_temporary_directory() {
  std::string path = (std::filesystem::temp_directory_path() / "nicsync-command-XXXXXX").string();
  REQUIRE(::mkdtemp(path.data()) != nullptr);
  return path;
}

}  // namespace

TEST_SUITE("system::command_runner") {
  TEST_CASE("a program that exits 0 succeeds") { CHECK(error_of(run({"/bin/true"})) == "(ok)"); }

  TEST_CASE("a non-zero exit is an error naming the command, the status and the last line of stderr") {
    Result<void> result = run({"/bin/sh", "-c", "echo first >&2; echo 'the reason' >&2; echo; exit 3"});
    CHECK(error_of(result) ==
          "/bin/sh -c echo first >&2; echo 'the reason' >&2; echo; exit 3: exited with status 3: the reason");
  }

  TEST_CASE("a program killed by a signal is an error naming the signal") {
    CHECK(error_of(run({"/bin/sh", "-c", "kill -TERM $$"})) ==
          "/bin/sh -c kill -TERM $$: killed by signal 15 (SIGTERM)");
  }

  TEST_CASE("only absolute paths are run: no PATH lookup") {
    CHECK(error_of(run({"sh", "-c", "true"})) == "cannot run \"sh\": not an absolute path");
    CHECK(error_of(run({})) == "cannot run \"\": not an absolute path");
  }

  TEST_CASE("a missing program is an error naming it") {
    CHECK(error_of(run({"/nonexistent/netplan", "generate"})) ==
          "/nonexistent/netplan generate: cannot run it: No such file or directory");
  }

  TEST_CASE("stdin is /dev/null") {
    CHECK(error_of(run({"/bin/sh", "-c", "test \"$(readlink /proc/self/fd/0)\" = /dev/null"})) == "(ok)");
  }

  TEST_CASE("the program starts with no signal blocked or ignored, whatever the caller did") {
    // grep itself reads its /proc status: a shell would clear its signal mask and hide the bug.
    sigset_t term;
    sigset_t previous_mask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &term, &previous_mask) == 0);
    struct sigaction ignore {};
    struct sigaction previous_action {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(sigaction(SIGUSR1, &ignore, &previous_action) == 0);
    Result<void> blocked = run({"/usr/bin/grep", "-q", "^SigBlk:[[:space:]]*0*$", "/proc/self/status"});
    // SIGUSR1 (10) is bit 0x200 of SigIgn (glibc itself leaves its internal signals 32 and 33 ignored).
    Result<void> ignored = run(
        {"/usr/bin/grep", "-qE", "^SigIgn:[[:space:]]*[0-9a-f]*[014589cd][0-9a-f]{2}$", "/proc/self/status"});
    REQUIRE(sigaction(SIGUSR1, &previous_action, nullptr) == 0);
    REQUIRE(pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr) == 0);
    CHECK(error_of(blocked) == "(ok)");
    CHECK(error_of(ignored) == "(ok)");
  }

  TEST_CASE("much output neither blocks the program nor is kept whole") {
    Result<void> result = run(
        {"/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\000' x; echo; echo 'last words' >&2; exit 1"});
    std::string message = error_of(result);
    CHECK(message.ends_with(": exited with status 1: last words"));
    CHECK(message.size() < 400);
  }

  TEST_CASE("a program that exits leaving a child with its output open is not waited for") {
    auto start = std::chrono::steady_clock::now();
    CHECK(error_of(run({"/bin/sh", "-c", "sleep 3 & exit 0"})) == "(ok)");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  }

  TEST_CASE("start() returns while the program runs; wait() then gives what run() would, every time") {
    // The program ends only once `go` exists, which the test makes after start() returned: a
    // start() that waited would see it killed at the timeout instead.
    std::filesystem::path dir = make_temporary_directory();
    std::string go = (dir / "go").string();
    std::string script = "while [ ! -e " + go + " ]; do sleep 0.01; done; echo ended >&2; exit 3";
    std::unique_ptr<StartedCommand> started = make_command_runner()->start({"/bin/sh", "-c", script});
    std::ofstream(go) << "\n";
    CHECK(error_of(started->wait()) == "/bin/sh -c " + script + ": exited with status 3: ended");
    CHECK(error_of(started->wait()) == "/bin/sh -c " + script + ": exited with status 3: ended");
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("a started program nobody waited for is waited for when it is dropped, not killed") {
    std::filesystem::path dir = make_temporary_directory();
    std::filesystem::path done = dir / "done";
    std::unique_ptr<StartedCommand> started =
        make_command_runner()->start({"/bin/sh", "-c", "sleep 0.2; echo > " + done.string()});
    started.reset();
    CHECK(std::filesystem::exists(done));
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("a program start() cannot start is the error of its wait()") {
    CHECK(error_of(make_command_runner()->start({"sh", "-c", "true"})->wait()) ==
          "cannot run \"sh\": not an absolute path");
    CHECK(error_of(make_command_runner()->start({"/nonexistent/netplan", "generate"})->wait()) ==
          "/nonexistent/netplan generate: cannot run it: No such file or directory");
  }
}
