// Foreign netplan files (read_netplan_existing, nicsync/render.hpp). The first byte picks one of
// three fixed plans (AWS two ENIs; the same with primary_rules and DHCP secondaries; Oracle bare
// metal with a VLAN VNIC); the rest is up to four netplan files separated by NUL bytes, in
// netplan's precedence order. What is read must agree with find_netplan_ids, and the plan minus
// what the files configure must render into a netplan file that this reader accepts: read back
// after the foreign files it changes no id they set, and together they configure the whole plan
// (subtracting them all leaves nothing to configure).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../unit/instances.hpp"
#include "fuzz_common.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

Plan plan_of(const Instance& instance, const PlanOptions& options) {
  Result<Plan> plan = make_plan(instance, options);
  check(plan.ok(), "the fixed plans are valid", plan.ok() ? "" : plan.error().message);
  return *plan;
}

const std::vector<Plan>& plans() {
  static const std::vector<Plan> all = [] {
    PlanOptions dhcp;
    dhcp.primary_rules = true;
    dhcp.secondary_addressing = Addressing::dhcp;
    return std::vector<Plan>{plan_of(test::aws_two_eni(), PlanOptions{}), plan_of(test::aws_two_eni(), dhcp),
                             plan_of(test::oracle_bm_vlan(), PlanOptions{})};
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Plan& plan = plans()[data[0] % plans().size()];
  std::vector<NetplanSource> sources;
  for (std::string_view part : fuzz::split_nul(fuzz::text_of(data + 1, size - 1))) {
    if (sources.size() == 4) break;
    sources.push_back({"/etc/netplan/" + std::to_string(50 + sources.size()) + "-foreign.yaml", std::string(part)});
  }

  Result<NetplanExisting> existing = read_netplan_existing(plan, sources);
  Result<NetplanIds> ids = find_netplan_ids(plan, sources);
  check(existing.ok() == ids.ok(), "find_netplan_ids fails when read_netplan_existing does");
  if (!existing.ok()) {
    fuzz::check_one_line(existing.error());
    return 0;
  }
  check(existing->ids == *ids, "find_netplan_ids is read_netplan_existing's ids");
  for (const auto& [name, definition] : existing->by_nic) {
    check(existing->ids.count(name) == 1 && existing->ids.at(name) == definition.id, "by_nic is keyed like ids", name);
  }

  std::vector<std::string> notes;
  Plan rest = subtract_configured(plan, *existing, notes);
  check(rest.nics.size() <= plan.nics.size(), "subtracting never adds a NIC");
  RenderedFile ours = render_netplan(rest, existing->ids);
  check(ours.content.starts_with(kOwnershipHeader), "our file starts with the ownership header");

  // Read back after the foreign files (as netplan would: 90-nicsync.yaml sorts last).
  std::vector<NetplanSource> with_ours = sources;
  with_ours.push_back({std::string(kNetplanPath), ours.content});
  Result<NetplanExisting> again = read_netplan_existing(plan, with_ours);
  check(again.ok(), "our own netplan file parses", again.ok() ? ours.content : again.error().message);
  for (const auto& [name, id] : existing->ids) {
    check(again->ids.count(name) == 1 && again->ids.at(name) == id, "our file does not change a foreign id", name);
  }

  // Together, the foreign files and ours configure the whole plan.
  std::vector<std::string> more_notes;
  Plan left = subtract_configured(plan, *again, more_notes);
  // (A NIC that never had anything to configure, such as a DHCP primary that is only a VLAN's
  // parent, stays in the plan as it was.)
  std::string unconfigured;
  for (const NicPlan& nic : left.nics) {
    if (nic.addresses.empty() && nic.routes.empty() && nic.rules.empty()) continue;
    unconfigured += nic.name.str() + ": " + std::to_string(nic.addresses.size()) + " addresses, " +
                    std::to_string(nic.routes.size()) + " routes, " + std::to_string(nic.rules.size()) + " rules left\n";
  }
  check(unconfigured.empty(), "the foreign files and ours configure the whole plan", unconfigured + ours.content);
  return 0;
}
