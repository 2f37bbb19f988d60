// memread remember (DESIGN §10): see memory_command.cpp.
#pragma once

#include "cli/arguments.h"

namespace memread::cli {

int remember_command(int argc, char** argv, Failure& failure);

}  // namespace memread::cli
