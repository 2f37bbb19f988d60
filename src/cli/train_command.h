// memread train (DESIGN §6): see train_command.cpp.
#pragma once

#include "cli/arguments.h"

namespace memread::cli {

extern const char kTrainUsage[];
int train_command(int argc, char** argv, Failure& failure);

}  // namespace memread::cli
