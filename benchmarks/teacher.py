"""Cost of one Mosaic distillation step: loop vs batched (vmap) experts, all experts vs the top-k gate, fp32 vs bf16.

    python benchmarks/teacher.py                       # cnn_mnist on 28x28x1, the paper's generator width 64
    python benchmarks/teacher.py --ngf 16              # the cpu preset's generators
    python benchmarks/teacher.py --arch resnet18 --shape 3,32,32 --device cuda

One step = draw `batch-per-gen` images from each of `gens` generators, run the teacher (experts + meta model)
without gradients, and take one Adam step of the student on the KD loss; exactly what `distill` does.
Every configuration is timed in the same process against the baseline (loop, all experts, fp32); the table
prints the median step time, the teacher's share of it and the speed-up over the baseline. Weights are
random: the cost of a forward pass does not depend on their values. bf16 on a CPU without native bf16
instructions (AVX512-BF16 / AMX) is emulated and slow; the table says which case this machine is.
"""
import argparse, copy
import torch
from mosaic_nb.core import autocast, cpu_has_bf16, cpu_name, get_device, set_quiet, torch_rng
from mosaic_nb.models import get_model
from mosaic_nb.generators import make_generator
from mosaic_nb.experts import ExpertBank
from mosaic_nb.meta import MetaModel
from mosaic_nb.distill import distill
from mosaic_nb.mosaic import Teacher

from timing import save_report, timed   # benchmarks/timing.py (run as `python benchmarks/NAME.py`)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='cnn_mnist'); ap.add_argument('--shape', default='1,28,28')
    ap.add_argument('--classes', type=int, default=10, help='classes = experts')
    ap.add_argument('--gens', type=int, default=10, help='client generators'); ap.add_argument('--batch-per-gen', type=int, default=32)
    ap.add_argument('--ngf', type=int, default=64); ap.add_argument('--device', default='auto')
    ap.add_argument('--warmup', type=int, default=2); ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--threads', type=int, default=None); ap.add_argument('--json', default=None, help='also write the rows, versions and machine to this JSON file')
    a = ap.parse_args(argv)
    set_quiet(True)
    if a.threads: torch.set_num_threads(a.threads)
    dev, shape, C = get_device(a.device), tuple(int(s) for s in a.shape.split(',')), a.classes
    torch.manual_seed(0)
    student = get_model(a.arch, shape, C).to(dev)
    experts = [get_model(a.arch, shape, C).state_dict() for _ in range(C)]
    meta = MetaModel(C, C).to(dev).eval()
    gate_model = copy.deepcopy(student).eval().requires_grad_(False)
    Gs = [make_generator(shape, ngf=a.ngf, generator=torch_rng(i)).to(dev).eval() for i in range(a.gens)]
    banks = {m: ExpertBank(student, experts, m) for m in ('loop', 'vmap')}
    configs = [('loop', 'all', None, 'fp32'), ('vmap', 'all', None, 'fp32'), ('loop', 'topk', 3, 'fp32'),
               ('loop', 'topk', 1, 'fp32'), ('loop', 'all', None, 'bf16'), ('loop', 'topk', 3, 'bf16')]
    if dev.type == 'cuda': configs.insert(2, ('vmap', 'all', None, 'bf16'))
    x = torch.cat([G(torch.randn(a.batch_per_gen, G.nz, device=dev)) for G in Gs]).detach()
    rows, base = [], None
    for method, gate, k, prec in configs:
        teacher = Teacher(banks[method], meta, gate, k or 3, gate_model)
        st = copy.deepcopy(student)
        if prec == 'bf16': st = st.to(memory_format=torch.channels_last)
        def step(): distill(st, teacher, Gs, steps=1, batch_per_gen=a.batch_per_gen, precision=prec, lr=1e-4)
        def teach():
            with torch.no_grad(), autocast(dev, prec): teacher(x)
        t_step, t_teacher = timed(step, dev, a.warmup, a.repeat), timed(teach, dev, a.warmup, a.repeat)
        base = base or t_step
        rows.append(dict(experts=method, gate=gate if gate == 'all' else f'top-{k}', precision=prec,
                         step_ms=round(1000 * t_step, 1), teacher_ms=round(1000 * t_teacher, 1),
                         teacher_share=round(t_teacher / t_step, 2), speedup=round(base / t_step, 2)))
    bf = 'native' if dev.type == 'cuda' or cpu_has_bf16() else 'emulated (no AVX512-BF16/AMX on this CPU)'
    print(f"# one distillation step: {a.arch} {shape}, {C} experts, {a.gens} generators x {a.batch_per_gen} images, "
          f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else cpu_name()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}, bf16 {bf}")
    cols = list(rows[0])
    print('| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols))
    for r in rows: print('| ' + ' | '.join(str(r[c]) for c in cols) + ' |')
    print('speedup = baseline step time (loop, all, fp32; first row) / this step time, measured in this run')
    if a.json: save_report(a.json, rows, dev, args=vars(a), bf16=bf)
    return rows

if __name__ == '__main__': main()
