// libreverie, the C client of the Reverie daemon (bridge/native), as an external module.
// unreal_plugin/build_native.sh builds it with CMake and copies the headers into include/
// and the library into Win64/ or Linux/ here; nothing of it is committed.
using System.IO;
using UnrealBuildTool;

public class ReverieLibrary : ModuleRules
{
	public ReverieLibrary(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;

		string IncludeDir = Path.Combine(ModuleDirectory, "include");
		PublicSystemIncludePaths.Add(IncludeDir);
		if (!File.Exists(Path.Combine(IncludeDir, "reverie.h")))
		{
			throw new BuildException("Reverie: " + IncludeDir + "/reverie.h is missing; run unreal_plugin/build_native.sh first");
		}

		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			string LibDir = Path.Combine(ModuleDirectory, "Win64");
			if (!File.Exists(Path.Combine(LibDir, "reverie.lib")) || !File.Exists(Path.Combine(LibDir, "reverie.dll")))
			{
				throw new BuildException("Reverie: put reverie.dll and reverie.lib (built from bridge/native) into " + LibDir);
			}
			PublicAdditionalLibraries.Add(Path.Combine(LibDir, "reverie.lib"));
			// Delay-loaded: FReverieModule loads the DLL itself and turns the plugin off with
			// a log line when it is missing, instead of the game failing to start.
			PublicDelayLoadDLLs.Add("reverie.dll");
			RuntimeDependencies.Add("$(BinaryOutputDir)/reverie.dll", Path.Combine(LibDir, "reverie.dll"));
			// The DLL's own dependencies (libzmq, msgpack) when they were built as DLLs.
			foreach (string Dll in Directory.GetFiles(LibDir, "*.dll"))
			{
				string Name = Path.GetFileName(Dll);
				if (Name != "reverie.dll")
				{
					RuntimeDependencies.Add("$(BinaryOutputDir)/" + Name, Dll);
				}
			}
		}
		else if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			string LibDir = Path.Combine(ModuleDirectory, "Linux");
			string So = Path.Combine(LibDir, "libreverie.so");
			if (!File.Exists(So))
			{
				throw new BuildException("Reverie: " + So + " is missing; run unreal_plugin/build_native.sh first");
			}
			PublicAdditionalLibraries.Add(So);
			// The module binary asks the loader for the library's soname (libreverie.so.1, the ABI version):
			// every libreverie.so* build_native.sh left goes next to it, found by its $ORIGIN rpath.
			foreach (string Library in Directory.GetFiles(LibDir, "libreverie.so*"))
			{
				RuntimeDependencies.Add("$(BinaryOutputDir)/" + Path.GetFileName(Library), Library);
			}
		}
		else
		{
			throw new BuildException("Reverie supports Win64 and Linux only");
		}
	}
}
