"""A test pack on ComfyUI's newer schema API: io.ComfyNode classes and comfy_entrypoint."""
from comfy_api.latest import ComfyExtension, io, ui


class StudioV3Scale(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StudioV3Scale", display_name="Studio V3 Scale", category="studio_test/v3",
            description="Multiplies a float.",
            inputs=[io.Float.Input("value", default=1.0, min=-10.0, max=10.0),
                    io.Int.Input("times", default=2, min=1, max=8, display_mode=io.NumberDisplay.slider),
                    io.Combo.Input("mode", options=["plain", "negate"], default="plain")],
            outputs=[io.Float.Output(display_name="scaled")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, value, times, mode):
        result = value * times
        return io.NodeOutput(-result if mode == "negate" else result)

    @classmethod
    def validate_inputs(cls, value, times, mode):
        return True if times != 7 else "seven is not allowed"


class StudioV3Show(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="StudioV3Show", category="studio_test/v3", is_output_node=True,
                         inputs=[io.Float.Input("value", force_input=True)], outputs=[],
                         hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, value):
        return io.NodeOutput(ui=ui.PreviewText(f"{value:.2f} from {cls.hidden.unique_id}"))


class StudioV3Extension(ComfyExtension):
    async def get_node_list(self):
        return [StudioV3Scale, StudioV3Show]


async def comfy_entrypoint():
    return StudioV3Extension()
