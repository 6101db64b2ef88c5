// Picks the CPU kernel table at run time: the widest instruction set that is compiled in, that this CPU has,
// and that PyTorch itself would use (so ATEN_CPU_CAPABILITY=avx2 or =default narrows both alike).
#include <ATen/Version.h>
#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>

#include <atomic>

#include "cpu_kernels.h"

namespace inpaintzoo {
namespace {

bool cpu_has(const std::string& isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == "avx512") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
  }
  if (isa == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return isa == "generic";
}

// Compiled in and runnable here, widest first.
std::vector<const CpuKernels*> usable_tables() {
  std::vector<const CpuKernels*> tables;
  for (const CpuKernels* table : {cpu_kernels_avx512(), cpu_kernels_avx2(), cpu_kernels_generic()}) {
    if (table != nullptr && cpu_has(table->isa)) {
      tables.push_back(table);
    }
  }
  return tables;
}

const CpuKernels* preferred_table() {
  const std::string torch_capability = at::get_cpu_capability();  // "AVX512", "AVX2", "DEFAULT", ...
  for (const CpuKernels* table : usable_tables()) {
    const std::string isa = table->isa;
    if (isa == "avx512" && torch_capability != "AVX512") {
      continue;
    }
    if (isa == "avx2" && torch_capability != "AVX512" && torch_capability != "AVX2") {
      continue;
    }
    return table;
  }
  return cpu_kernels_generic();
}

std::atomic<const CpuKernels*> current_table{nullptr};

}  // namespace

const CpuKernels& cpu_kernels() {
  const CpuKernels* table = current_table.load(std::memory_order_acquire);
  if (table == nullptr) {
    table = preferred_table();  // racing first calls compute the same answer
    current_table.store(table, std::memory_order_release);
  }
  return *table;
}

std::vector<std::string> available_cpu_isas() {
  std::vector<std::string> names;
  for (const CpuKernels* table : usable_tables()) {
    names.emplace_back(table->isa);
  }
  return names;
}

std::string set_cpu_isa(const std::string& isa) {
  const std::string previous = cpu_kernels().isa;
  for (const CpuKernels* table : usable_tables()) {
    if (isa == table->isa) {
      current_table.store(table, std::memory_order_release);
      return previous;
    }
  }
  TORCH_CHECK(false, "inpaintzoo: CPU kernels for '", isa, "' are not compiled in or not supported by this CPU; ",
              "available: ", c10::Join(", ", available_cpu_isas()));
}

}  // namespace inpaintzoo
