// memread merges and memread tokens: the tokenizer and the token ids of texts as files, for
// trainers other than `memread train` (DESIGN §12): see tokens_command.cpp.
#pragma once

#include "cli/arguments.h"

namespace memread::cli {

int merges_command(int argc, char** argv, Failure& failure);
int tokens_command(int argc, char** argv, Failure& failure);

}  // namespace memread::cli
