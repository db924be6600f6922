"""The arithmetic a loaded Caffe net does per training step, counted from its blobs.

Only the layers that are matrix products are counted — Convolution, Deconvolution
and InnerProduct — as is the custom for FLOP/s figures: everything else a LeNet
does (pooling, ReLU, the loss) is a few percent of the multiply-adds and is left
out. A multiply-add counts as 2 FLOP.

Per layer, for a batch:
  forward          MACs = output elements x (input channels / group) x kernel area
                   (InnerProduct: batch x outputs x inputs)
  weight gradient  the same MACs again, when the layer has learnable weights
  input gradient   the same MACs again, only when the layer's input needs a
                   gradient (Caffe skips it for a layer fed straight from the data)

`step_flops(net)` returns a StepFlops for one forward + backward pass of the
net's current batch; divide by the batch size for FLOP per example.
"""

from dataclasses import dataclass

PRODUCT_LAYERS = ("Convolution", "Deconvolution", "InnerProduct")


@dataclass(frozen=True)
class StepFlops:
    """FLOP of one forward + backward pass of a batch (2 per multiply-add)."""

    forward: int
    backward: int
    batch: int

    @property
    def total(self):
        return self.forward + self.backward

    @property
    def per_example(self):
        """FLOP per example (per pair for a siamese net), forward + backward."""
        return self.total / self.batch


def layer_macs(layer_type, weight_shape, top_shape, bottom_shape):
    """Multiply-adds of one forward pass of a product layer over a whole batch.

    weight_shape: the layer's first learnable blob (Convolution: out x in/group x kh x kw;
    Deconvolution: in x out/group x kh x kw; InnerProduct: outputs x inputs).
    top_shape / bottom_shape: the output / input blob shapes, batch first.
    """
    per_output = 1
    if layer_type == "Convolution":
        for d in weight_shape[1:]:
            per_output *= d
        return _count(top_shape) * per_output
    if layer_type == "Deconvolution":    # the transpose: every input element is spread
        for d in weight_shape[1:]:
            per_output *= d
        return _count(bottom_shape) * per_output
    if layer_type == "InnerProduct":
        outputs, inputs = weight_shape[0], weight_shape[1]
        return top_shape[0] * outputs * inputs
    raise ValueError(f"not a product layer: {layer_type}")


def blobs_needing_gradients(net):
    """Names of the blobs whose gradient Caffe's backward pass computes.

    A blob needs one when the layer that made it has learnable parameters or was
    itself fed by a blob that needs one (data, labels and their slices do not).
    """
    needing = set()
    for name, layer in zip(net._layer_names, net.layers):
        bottoms = net.bottom_names[name]
        if len(layer.blobs) > 0 or any(b in needing for b in bottoms):
            needing.update(net.top_names[name])
    return needing


def step_flops(net):
    """StepFlops of one forward + backward pass of `net` (a caffe.Net) as shaped now."""
    needing = blobs_needing_gradients(net)
    forward = backward = 0
    for name, layer in zip(net._layer_names, net.layers):
        if layer.type not in PRODUCT_LAYERS or len(layer.blobs) == 0:
            continue
        bottom = net.bottom_names[name][0]
        top = net.top_names[name][0]
        macs = layer_macs(layer.type, layer.blobs[0].data.shape,
                          net.blobs[top].data.shape, net.blobs[bottom].data.shape)
        forward += 2 * macs
        backward += 2 * macs                     # weight gradient
        if bottom in needing:
            backward += 2 * macs                 # input gradient
    batch = next(iter(net.blobs.values())).data.shape[0]    # the data blob comes first
    return StepFlops(forward=forward, backward=backward, batch=batch)


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n
