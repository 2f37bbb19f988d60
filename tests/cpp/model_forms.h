// The four forms of the model (DESIGN §1: context input|hidden × position none|learned), which the
// machine's and the trainer's tests each run through. A name is also a GoogleTest parameter name.
#pragma once

#include "model/config.h"

namespace memread {

struct Form {
  ContextForm context;
  PositionForm position;
  const char* name;
};

inline constexpr Form kForms[] = {
    {ContextForm::kInput, PositionForm::kNone, "input_none"},
    {ContextForm::kInput, PositionForm::kLearned, "input_learned"},
    {ContextForm::kHidden, PositionForm::kNone, "hidden_none"},
    {ContextForm::kHidden, PositionForm::kLearned, "hidden_learned"},
};

}  // namespace memread
