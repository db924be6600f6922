"""The siamese LeNet of the job's train_val.prototxt in PyTorch, for the baselines of
bench/train.py and bench/torch_only.py: scale 0.0125, slice into the two digits, one
shared LeNet branch (conv 20 5x5, max pool 2, conv 50 5x5, max pool 2, ip 500 + ReLU,
ip 10, feat 2), ContrastiveLoss (margin, 1 = same class, normalised by 2N), and SGD (or
Adam) with the solver's learning rate, momentum (betas, eps) and weight decay."""

import time


def training_step(images, labels, solver, batch_size, device="cpu", compiled=False):
    """(model, step) for pairs `images` [N, 3, H, W] float32 (mean subtracted) and
    `labels` [N] (1.0 same, 0.0 different), NumPy arrays; `solver`: dict with base_lr,
    momentum, weight_decay and margin (and type "SGD" or "Adam", momentum2, delta). step(model, i) trains on batch i (rows
    i * batch_size .. wrapping around). compiled: the forward and loss go through
    torch.compile (Inductor; the backward is compiled with them), the optimiser stays eager."""
    import torch
    from torch import nn

    images = torch.from_numpy(images).to(device)
    labels = torch.from_numpy(labels.reshape(-1)).to(device)

    def side(n):            # after conv 5x5, pool 2, conv 5x5, pool 2
        return ((n - 4) // 2 - 4) // 2
    flat = 50 * side(images.shape[2]) * side(images.shape[3])
    branch = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5),
                           nn.MaxPool2d(2), nn.Flatten(), nn.Linear(flat, 500), nn.ReLU(),
                           nn.Linear(500, 10), nn.Linear(10, 2)).to(device)
    if solver.get("type", "SGD") == "Adam":     # Caffe's Adam: L2 decay added to the gradient
        optimiser = torch.optim.Adam(branch.parameters(), lr=solver["base_lr"],
                                     betas=(solver["momentum"], solver["momentum2"]),
                                     eps=solver["delta"], weight_decay=solver["weight_decay"])
    else:
        optimiser = torch.optim.SGD(branch.parameters(), lr=solver["base_lr"],
                                    momentum=solver["momentum"],
                                    weight_decay=solver["weight_decay"])
    margin = solver["margin"]

    def loss_of(pair, y):
        """Contrastive loss of a batch: pair [B, 3, H, W] (scaled), y [B] (1 = same)."""
        left, right = branch(pair[:, 0:1]), branch(pair[:, 1:2])
        distance = (left - right).pow(2).sum(1).clamp_min(1e-12).sqrt()
        return (y * distance.pow(2) + (1 - y) * (margin - distance).clamp_min(0).pow(2)).sum() \
            / (2 * batch_size)
    if compiled:
        loss_of = torch.compile(loss_of)

    def step(state, i):
        rows = torch.arange(i * batch_size, (i + 1) * batch_size, device=device) % len(images)
        loss = loss_of(images[rows] * 0.0125, labels[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return branch, step


def sync_function(device):
    """A function that waits for `device`'s queued work (a no-op on the CPU)."""
    if device == "cpu":
        return lambda: None
    import torch
    return torch.cuda.synchronize


def time_round(state, step, start, iterations, sync=lambda: None):
    """Seconds for `iterations` steps starting at batch index `start`, until `sync()`
    (a GPU's queued work) returns."""
    sync()
    began = time.perf_counter()
    for i in range(start, start + iterations):
        step(state, i)
    sync()
    return time.perf_counter() - began
