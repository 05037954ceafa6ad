#include "system/shared_library.hpp"

#include <dlfcn.h>

namespace nicsync {

SharedLibrary::SharedLibrary(const char* soname, Load load) : soname_(soname) {
  handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL | (load == Load::if_loaded ? RTLD_NOLOAD : 0));
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    if (load == Load::if_loaded) {
      error_ = soname_ + " is not loaded";
    } else {
      error_ = why != nullptr ? why : soname_ + ": cannot be loaded";
    }
  }
}

void* SharedLibrary::symbol(const char* name) {
  if (handle_ == nullptr) return nullptr;
  void* found = ::dlsym(handle_, name);
  if (found == nullptr && error_.empty()) error_ = soname_ + " has no " + name;
  return found;
}

}  // namespace nicsync
