"""zcfs.torch - PlannedSampler: any PyTorch sampler whose order zcfs reads ahead.

    from torch.utils.data import DataLoader, RandomSampler
    from zcfs.torch import PlannedSampler

    sampler = PlannedSampler(RandomSampler(dataset), paths, "/mnt/data")
    loader = DataLoader(dataset, sampler=sampler, batch_size=32, num_workers=4)

paths[i] is the file dataset[i] opens (relative to the mount point or absolute under it). When
an epoch starts (the DataLoader asks the sampler for its order), the sampler draws the order
from the wrapped sampler (a shuffling RandomSampler, a DistributedSampler for this rank, ...),
hands it to zcfs as a reading plan and then yields it unchanged; zcfs reads the next files
ahead while the workers decode. The previous epoch's plan is cancelled if it is still active.
Only this module imports torch, and only the Sampler base class."""
from torch.utils.data import Sampler

from . import Mount


class PlannedSampler(Sampler):
    """Wrap sampler; each epoch's order goes to zcfs as a plan (Mount.plan()). window, depth,
    spread and store are the plan's options (spread: num_workers * batch_size *
    prefetch_factor of the loader, else learned by zcfs). A sampler that yields lists of
    indices (a batch sampler) is planned in the order of its indices. The last plan is in
    .plan (a zcfs.Plan); set_epoch() is passed on (DistributedSampler)."""

    def __init__(self, sampler, paths, mountpoint, window=None, depth=None, spread=None, store=False):
        super().__init__(None)
        self.sampler, self.paths = sampler, paths
        self.mount = mountpoint if isinstance(mountpoint, Mount) else Mount(mountpoint)
        self.options = {"window": window, "depth": depth, "spread": spread, "store": store}
        self.plan = None

    def __iter__(self):
        order = list(iter(self.sampler))
        flat = []
        for item in order:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        if self.plan is not None:
            self.plan.cancel()  # an epoch cut short: its read-ahead is dropped
            self.plan = None
        if flat:
            self.plan = self.mount.plan([self.paths[int(i)] for i in flat], **self.options)
        return iter(order)

    def __len__(self):
        return len(self.sampler)

    def set_epoch(self, epoch):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
