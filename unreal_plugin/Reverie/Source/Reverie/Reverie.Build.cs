// The Reverie runtime module: the scene view extension that captures color, depth and
// motion after tonemapping, the readback ring, the console commands and the prompt console.
using System.IO;
using UnrealBuildTool;

public class Reverie : ModuleRules
{
	public Reverie(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;

		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"Projects",      // IPluginManager: where the plugin (shaders, library) lives
			"RenderCore",    // global shaders, RDG
			"Renderer",      // scene view extension inputs, ScreenPass
			"RHI",           // readbacks, textures
			"Slate",
			"SlateCore",
			"InputCore",     // key events in the prompt console
			"ReverieLibrary" // libreverie, the C client of the daemon (ThirdParty)
		});

		// FViewInfo (the render-resolution view rect and the previous frame's view matrices)
		// lives in the renderer's private headers; DLSS and FSR plugins read it the same way.
		string EngineSource = Path.Combine(EngineDirectory, "Source");
		PrivateIncludePaths.AddRange(new string[]
		{
			Path.Combine(EngineSource, "Runtime", "Renderer", "Private"),
			Path.Combine(EngineSource, "Runtime", "Renderer", "Internal"),
		});
	}
}
