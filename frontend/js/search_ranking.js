// How node search orders its results: text relevance first, lifted by how often this user
// picked a node; for a wire dropped on empty canvas, by how likely each node is to follow
// (or feed) a wire of that type: the user's own past choices for that type, then the
// usual next step of a Stable Diffusion graph (a table of core node names), then how
// prominent the type is among the node's sockets.

const USAGE_KEY = "studio.nodeUsage"; // {type: picks}
const WIRE_KEY = "studio.wireUsage"; // {"out:LATENT": {type: picks}, "in:MODEL": {...}}

// The usual next node for an output of a type, and the usual source for an input of one.
const AFTER_OUTPUT = {
  MODEL: ["KSampler", "LoraLoader", "KSamplerAdvanced", "ModelSamplingDiscrete", "FreeU_V2", "CFGGuider", "SamplerCustom"],
  CLIP: ["CLIPTextEncode", "LoraLoader", "CLIPSetLastLayer", "CLIPTextEncodeSDXL"],
  VAE: ["VAEDecode", "VAEEncode", "VAEEncodeForInpaint", "VAEDecodeTiled", "VAEEncodeTiled"],
  CONDITIONING: ["KSampler", "ControlNetApplyAdvanced", "ConditioningCombine", "KSamplerAdvanced", "ConditioningSetArea", "CFGGuider"],
  LATENT: ["VAEDecode", "KSampler", "LatentUpscaleBy", "LatentUpscale", "KSamplerAdvanced", "SetLatentNoiseMask", "SamplerCustom"],
  IMAGE: ["SaveImage", "PreviewImage", "VAEEncode", "ImageScale", "ImageScaleBy", "ImageUpscaleWithModel", "VAEEncodeForInpaint"],
  MASK: ["SetLatentNoiseMask", "VAEEncodeForInpaint", "InpaintModelConditioning", "MaskToImage", "GrowMask", "InvertMask"],
  CONTROL_NET: ["ControlNetApplyAdvanced", "ControlNetApply"],
  UPSCALE_MODEL: ["ImageUpscaleWithModel"],
  CLIP_VISION: ["CLIPVisionEncode"],
  CLIP_VISION_OUTPUT: ["unCLIPConditioning", "StyleModelApply"],
  SIGMAS: ["SamplerCustom", "SamplerCustomAdvanced", "SplitSigmas"],
  SAMPLER: ["SamplerCustom", "SamplerCustomAdvanced"],
  GUIDER: ["SamplerCustomAdvanced"],
  NOISE: ["SamplerCustomAdvanced"],
};
const BEFORE_INPUT = {
  MODEL: ["CheckpointLoaderSimple", "LoraLoader", "UNETLoader"],
  CLIP: ["CheckpointLoaderSimple", "LoraLoader", "CLIPLoader", "DualCLIPLoader", "CLIPSetLastLayer"],
  VAE: ["VAELoader", "CheckpointLoaderSimple"],
  CONDITIONING: ["CLIPTextEncode", "ControlNetApplyAdvanced", "ConditioningCombine", "CLIPTextEncodeSDXL"],
  LATENT: ["EmptyLatentImage", "KSampler", "VAEEncode", "LatentUpscaleBy", "LatentUpscale"],
  IMAGE: ["LoadImage", "VAEDecode", "ImageScale", "ImageUpscaleWithModel"],
  MASK: ["LoadImage", "LoadImageMask", "SolidMask", "ImageToMask", "GrowMask"],
  CONTROL_NET: ["ControlNetLoader", "DiffControlNetLoader"],
  UPSCALE_MODEL: ["UpscaleModelLoader"],
  CLIP_VISION: ["CLIPVisionLoader", "unCLIPCheckpointLoader"],
  CLIP_VISION_OUTPUT: ["CLIPVisionEncode"],
  SIGMAS: ["BasicScheduler", "KarrasScheduler", "SplitSigmas", "SDTurboScheduler"],
  SAMPLER: ["KSamplerSelect", "SamplerEulerAncestral"],
  GUIDER: ["CFGGuider", "BasicGuider", "DualCFGGuider"],
  NOISE: ["RandomNoise", "DisableNoise"],
  INT: ["PrimitiveNode"], FLOAT: ["PrimitiveNode"], STRING: ["PrimitiveNode"], BOOLEAN: ["PrimitiveNode"], COMBO: ["PrimitiveNode"],
};

function read(key) {
  try { return JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch { return {}; }
}

function write(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* ranking only */ }
}

/** Remember a pick; `wire` ({type, fromOutput}) when it was made from a released wire. */
export function notePick(name, wire = null) {
  const usage = read(USAGE_KEY);
  usage[name] = (usage[name] || 0) + 1;
  write(USAGE_KEY, usage);
  if (!wire) return;
  const key = `${wire.fromOutput ? "out" : "in"}:${wire.type}`;
  const wires = read(WIRE_KEY);
  wires[key] = { ...(wires[key] || {}), [name]: ((wires[key] || {})[name] || 0) + 1 };
  write(WIRE_KEY, wires);
}

/** A score boost for nodes this user picks often (log-scaled, so habit never hides a good text match). */
export function usageBoosts() {
  const usage = read(USAGE_KEY);
  return (name) => Math.log2(1 + (usage[name] || 0)) * 40;
}

/**
 * Order node defs fitting a wire: `type` the wire's, `fromOutput` true when the wire comes
 * from an output (the new node takes it as an input). `position(def)` is the index of the
 * fitting socket among the node's own (0 = its first).
 */
export function rankForWire(defs, type, fromOutput, position) {
  const mine = read(WIRE_KEY)[`${fromOutput ? "out" : "in"}:${type}`] || {};
  const usual = (fromOutput ? AFTER_OUTPUT : BEFORE_INPUT)[type] || [];
  const usage = read(USAGE_KEY);
  const score = (def) => {
    const listed = usual.indexOf(def.name);
    return (mine[def.name] || 0) * 1000
      + (listed >= 0 ? 500 - listed * 10 : 0)
      + Math.log2(1 + (usage[def.name] || 0)) * 20
      - Math.min(10, position(def)) * 0.5; // a tie-break: the usual nodes keep their order
  };
  return defs
    .map((def) => [score(def), def])
    .sort((a, b) => b[0] - a[0] || (a[1].display_name || a[1].name).localeCompare(b[1].display_name || b[1].name))
    .map(([, def]) => def);
}
