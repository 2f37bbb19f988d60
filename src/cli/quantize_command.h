// memread quantize: a bank's weight matrices (E, K, V) stored another way (DESIGN §11): see
// quantize_command.cpp.
#pragma once

#include "cli/arguments.h"

namespace memread::cli {

int quantize_command(int argc, char** argv, Failure& failure);

}  // namespace memread::cli
