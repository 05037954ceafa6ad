#pragma once
/// When a run applies its plan to the running kernel.

namespace nicsync {

/// automatic: apply to the running kernel when networking is up (the primary NIC is up with an
/// IPv4 address) and --root is /; on: always; off: write files only.
enum class LiveMode { automatic, on, off };

}  // namespace nicsync
