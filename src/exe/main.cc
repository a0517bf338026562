// The `awan` binary: everything is in the libraries; this file only hands over argv.
#include "awan/cli/cli.h"

int main(int argc, char** argv) { return awan::cli::Run(argc, argv); }
