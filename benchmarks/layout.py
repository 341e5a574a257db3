"""Memory layout of the classifiers: a training step and inference, contiguous (NCHW) vs channels-last (NHWC), fp32.

    python benchmarks/layout.py                                  # the 28x28x1 nets, this machine
    python benchmarks/layout.py --archs resnet18 --shape 3,32,32 --device cuda
    python benchmarks/layout.py --threads 1 --precision bf16      # bf16 autocast too (slow where it is emulated)

One training step = forward, cross-entropy, backward and an SGD step on a batch of `--batch` images, as in local
training; inference = logits of `--infer` images in chunks of `--chunk`, as `predict` does for evaluation. Both
layouts are timed in the same process, alternating, and the table prints the median time and the speed-up of
channels-last over contiguous. The math is the same; only the kernels differ (results agree to float rounding).
"""
import argparse
import torch, torch.nn.functional as F
from mosaic_nb.core import autocast, get_device
from mosaic_nb.models import get_model

from timing import save_report, timed   # benchmarks/timing.py (run as `python benchmarks/NAME.py`)

def setup(arch, shape, classes, dev, layout, batch, infer):
    "A model, an optimiser and data in `layout` (torch.contiguous_format or torch.channels_last)."
    g = torch.Generator().manual_seed(0)
    m = get_model(arch, shape, classes, seed=0).to(dev).to(memory_format=layout)
    x = torch.randn(batch, *shape, generator=g).to(dev).contiguous(memory_format=layout)
    y = torch.randint(0, classes, (batch,), generator=g).to(dev)
    xi = torch.randn(infer, *shape, generator=g).to(dev).contiguous(memory_format=layout)
    return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.5), x, y, xi

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--archs', default='cnn_mnist,cnn,lenet5'); ap.add_argument('--shape', default='1,28,28')
    ap.add_argument('--classes', type=int, default=10); ap.add_argument('--device', default='auto')
    ap.add_argument('--batch', type=int, default=64, help='training batch'); ap.add_argument('--infer', type=int, default=4096)
    ap.add_argument('--chunk', type=int, default=1024, help='inference batch (predict)')
    ap.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'))
    ap.add_argument('--warmup', type=int, default=3); ap.add_argument('--repeat', type=int, default=15)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--json', default=None, help='also write the rows, versions and machine to this JSON file')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev, shape = get_device(a.device), tuple(int(s) for s in a.shape.split(','))
    print(f"device {dev}, threads {torch.get_num_threads()}, precision {a.precision}, train batch {a.batch}, "
          f"inference {a.infer} images in chunks of {a.chunk}")
    print(f"| arch | train step contiguous (ms) | channels-last (ms) | speed-up | inference contiguous (ms) | channels-last (ms) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for arch in a.archs.split(','):
        res = {}
        for name, layout in (('contiguous', torch.contiguous_format), ('channels_last', torch.channels_last)):
            m, opt, x, y, xi = setup(arch, shape, a.classes, dev, layout, a.batch, a.infer)
            def step():
                with autocast(dev, a.precision): loss = F.cross_entropy(m(x).float(), y)
                opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
            @torch.no_grad()
            def infer():
                m.eval()
                with autocast(dev, a.precision):
                    for i in range(0, len(xi), a.chunk): m(xi[i:i + a.chunk])
                m.train()
            res[name] = (timed(step, dev, a.warmup, a.repeat), timed(infer, dev, 1, max(3, a.repeat // 3)))
        (tc, ic), (tl, il) = res['contiguous'], res['channels_last']
        print(f"| {arch} | {tc*1e3:.1f} | {tl*1e3:.1f} | {tc/tl:.2f}x | {ic*1e3:.0f} | {il*1e3:.0f} | {ic/il:.2f}x |")
        rows.append(dict(arch=arch, train_contiguous_ms=round(tc * 1e3, 2), train_channels_last_ms=round(tl * 1e3, 2),
                         train_speedup=round(tc / tl, 3), infer_contiguous_ms=round(ic * 1e3, 1),
                         infer_channels_last_ms=round(il * 1e3, 1), infer_speedup=round(ic / il, 3)))
    if a.json: save_report(a.json, rows, dev, args=vars(a))
    return rows

if __name__ == '__main__': main()
