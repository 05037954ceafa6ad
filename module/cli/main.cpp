#include "nicsync/app.hpp"

int main(int argc, char** argv) { return nicsync::run_cli(argc, argv); }
