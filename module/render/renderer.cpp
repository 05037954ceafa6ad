#include "nicsync/render.hpp"

namespace nicsync {

std::string_view renderer_name(RendererKind kind) {
  switch (kind) {
    case RendererKind::netplan: return "netplan";
    case RendererKind::network_scripts: return "network-scripts";
  }
  return "unknown";
}

Result<RendererKind> parse_renderer(std::string_view text) {
  if (text == "netplan") return RendererKind::netplan;
  if (text == "network-scripts") return RendererKind::network_scripts;
  return Error{quote(text) + " is not a renderer (netplan or network-scripts)"};
}

}  // namespace nicsync
