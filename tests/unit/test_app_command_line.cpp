#include <doctest/doctest.h>

#include "nicsync/app.hpp"

using namespace nicsync;

namespace {

Result<RunOptions> parse(std::vector<std::string> args) {
  std::optional<std::string> early;
  return parse_command_line(args, early);
}

}  // namespace

TEST_SUITE("app::command_line") {
  TEST_CASE("options before or after the command, with = or a separate value") {
    auto options = *parse({"--root", "/tmp/r", "plan", "--metadata-url=http://127.0.0.1:8080/", "--renderer",
                           "network-scripts"});
    CHECK(options.command == Command::plan);
    CHECK(options.root == "/tmp/r");
    CHECK(*options.command_line.metadata.url == "http://127.0.0.1:8080");
    CHECK(*options.command_line.renderer == RendererKind::network_scripts);
  }

  TEST_CASE("help and version exit early") {
    std::optional<std::string> early;
    (void)parse_command_line({"--help"}, early);
    REQUIRE(early);
    CHECK(early->find("Usage: nicsync [OPTIONS] COMMAND") == 0);
    early.reset();
    (void)parse_command_line({"--version"}, early);
    CHECK(*early == std::string("nicsync ") + "0.1.0\n");
  }

  TEST_CASE("usage errors are one line naming the argument") {
    CHECK(parse({}).error().message == "no command given (commands: apply, plan, show, config check; see nicsync --help)");
    CHECK(parse({"frob"}).error().message == "unknown command \"frob\" (commands: apply, plan, show, config check)");
    CHECK(parse({"config"}).error().message == "config: the only subcommand is \"check\"");
    CHECK(parse({"apply", "--bogus"}).error().message == "unknown option \"--bogus\" (see nicsync --help)");
    CHECK(parse({"apply", "--root"}).error().message == "--root needs a value");
    CHECK(parse({"apply", "--root", "rel"}).error().message == "--root: \"rel\" is not an absolute path");
    CHECK(parse({"apply", "--renderer", "nm"}).error().message ==
          "--renderer: \"nm\" is not a renderer (netplan or network-scripts)");
    CHECK(parse({"apply", "--metadata-url", "ftp://x"}).error().message ==
          "--metadata-url: \"ftp://x\" is not an http:// or https:// URL");
    CHECK(parse({"apply", "--table-base", "12x"}).error().message == "--table-base: \"12x\" is not a number");
  }

  TEST_CASE("the command line is a settings layer of only what was given") {
    auto options = *parse({"apply", "--policy-routing", "off", "--table-base", "200", "--no-live", "--vendor", "oracle"});
    CHECK(*options.command_line.policy_routing == PolicyRouting::off);
    CHECK(*options.command_line.table_base == 200);
    CHECK(*options.command_line.live == LiveMode::off);
    CHECK(*options.command_line.vendor == Vendor::oracle);
    CHECK_FALSE(options.command_line.renderer.has_value());
    CHECK(parse({"config", "check"})->command == Command::config_check);
  }
}
