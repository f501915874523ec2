#include "ReverieModule.h"

#include "Async/Async.h"
#include "Engine/Engine.h"
#include "Engine/GameViewportClient.h"
#include "Framework/Application/SlateApplication.h"
#include "HAL/PlatformProcess.h"
#include "Interfaces/IPluginManager.h"
#include "Misc/App.h"
#include "Misc/CoreDelegates.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"
#include "RenderingThread.h"
#include "SceneViewExtension.h"
#include "ShaderCore.h"
#include "Widgets/SWeakWidget.h"
#include "ReverieSession.h"
#include "ReverieViewExtension.h"
#include "SReverieConsole.h"

DEFINE_LOG_CATEGORY(LogReverie);

IMPLEMENT_MODULE(FReverieModule, Reverie)

// libreverie's own lines (connected, disconnected and why, refused frames), from any thread:
// UE_LOG is thread-safe.
static void LogFromLibrary(void* /*User*/, int Level, const char* Message)
{
	if (Level == REVERIE_LOG_WARNING)
	{
		UE_LOG(LogReverie, Warning, TEXT("%s"), UTF8_TO_TCHAR(Message));
	}
	else
	{
		UE_LOG(LogReverie, Log, TEXT("%s"), UTF8_TO_TCHAR(Message));
	}
}

FReverieModule& FReverieModule::Get()
{
	return FModuleManager::GetModuleChecked<FReverieModule>(TEXT("Reverie"));
}

bool FReverieModule::IsAvailable()
{
	return FModuleManager::Get().IsModuleLoaded(TEXT("Reverie"));
}

void FReverieModule::StartupModule()
{
	// The capture shader is a global shader: its source folder is mapped here, at
	// PostConfigInit, before the engine compiles the global shader map.
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("Reverie"));
	check(Plugin.IsValid());
	AddShaderSourceDirectoryMapping(TEXT("/Plugin/Reverie"), FPaths::Combine(Plugin->GetBaseDir(), TEXT("Shaders")));

	if (!LoadNativeLibrary())
	{
		return;
	}
	reverie_set_log_callback(&LogFromLibrary, nullptr);
	Session = FReverieSession::Create(FString::Printf(TEXT("unreal:%s"), FApp::GetProjectName()));
	if (!Session)
	{
		return;
	}
	UE_LOG(LogReverie, Log, TEXT("libreverie %s loaded; frames go to the daemon whenever it runs (reverie serve)."),
		   UTF8_TO_TCHAR(reverie_version()));
	// View extensions are kept by GEngine, which does not exist yet at PostConfigInit.
	PostEngineInitHandle = FCoreDelegates::OnPostEngineInit.AddRaw(this, &FReverieModule::OnPostEngineInit);
}

bool FReverieModule::LoadNativeLibrary()
{
#if PLATFORM_WINDOWS
	// reverie.dll is delay-loaded (ReverieLibrary.Build.cs): load it here from where the build
	// copied it, so that a missing DLL turns Reverie off with a log line instead of crashing
	// at the first call. Its own dependencies (libzmq) sit in the same folder.
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("Reverie"));
	const FString Dirs[] = {FPaths::Combine(Plugin->GetBaseDir(), TEXT("Binaries"), TEXT("Win64")),
							FPlatformProcess::GetModulesDirectory()};
	for (const FString& Dir : Dirs)
	{
		const FString Path = FPaths::Combine(Dir, TEXT("reverie.dll"));
		if (FPaths::FileExists(Path))
		{
			FPlatformProcess::PushDllDirectory(*Dir);
			LibraryHandle = FPlatformProcess::GetDllHandle(*Path);
			FPlatformProcess::PopDllDirectory(*Dir);
			if (LibraryHandle)
			{
				return true;
			}
		}
	}
	UE_LOG(LogReverie, Error, TEXT("Reverie is off: reverie.dll was not found in %s or %s (run unreal_plugin/build_native.sh, then rebuild)."),
		   *Dirs[0], *Dirs[1]);
	return false;
#else
	// Linux links libreverie.so directly (with an $ORIGIN rpath): without it this module
	// would not have loaded at all.
	return true;
#endif
}

void FReverieModule::OnPostEngineInit()
{
	if (Session)
	{
		ViewExtension = FSceneViewExtensions::NewExtension<FReverieViewExtension>(Session.ToSharedRef());
	}
}

void FReverieModule::ShutdownModule()
{
	FCoreDelegates::OnPostEngineInit.Remove(PostEngineInitHandle);
	CloseConsole();
	if (ViewExtension.IsValid())
	{
		TSharedPtr<FReverieViewExtension, ESPMode::ThreadSafe> Extension = ViewExtension;
		ENQUEUE_RENDER_COMMAND(ReverieReleaseResources)([Extension](FRHICommandListImmediate&)
														 { Extension->ReleaseResources_RenderThread(); });
		ViewExtension.Reset();
	}
	FlushRenderingCommands(); // the render thread's FRAME calls are over before the client closes
	if (Session)
	{
		Session->Shutdown();
		Session.Reset();
	}
	if (LibraryHandle)
	{
		reverie_set_log_callback(nullptr, nullptr); // returns once no call into this module is running
		FPlatformProcess::FreeDllHandle(LibraryHandle);
		LibraryHandle = nullptr;
	}
}

void FReverieModule::ToggleConsole()
{
	UGameViewportClient* Viewport = GEngine ? GEngine->GameViewport : nullptr;
	const bool bOpen = ConsoleInViewport.IsValid() && ConsoleViewport.Get() == Viewport;
	CloseConsole();
	if (bOpen)
	{
		return;
	}
	if (!Session)
	{
		UE_LOG(LogReverie, Warning, TEXT("Reverie is off: the library or its client failed to load (see the log above)."));
		return;
	}
	if (!Viewport)
	{
		UE_LOG(LogReverie, Warning, TEXT("The Reverie console shows in a running game (standalone or play-in-editor)."));
		return;
	}
	Console = SNew(SReverieConsole)
				  .Session(Session)
				  // Closed on the next game-thread task, not inside the widget's own key handler:
				  // the viewport holds it weakly, so closing destroys it.
				  .OnClose(FSimpleDelegate::CreateLambda(
					  []()
					  {
						  AsyncTask(ENamedThreads::GameThread, []()
									{
										if (FReverieModule::IsAvailable())
										{
											FReverieModule::Get().CloseConsole();
										}
									});
					  }));
	ConsoleInViewport = SNew(SWeakWidget).PossiblyNullContent(Console);
	Viewport->AddViewportWidgetContent(ConsoleInViewport.ToSharedRef(), 100);
	ConsoleViewport = Viewport;
	Console->FocusInput();
}

void FReverieModule::CloseConsole()
{
	if (ConsoleInViewport.IsValid())
	{
		if (UGameViewportClient* Viewport = ConsoleViewport.Get())
		{
			Viewport->RemoveViewportWidgetContent(ConsoleInViewport.ToSharedRef());
			if (FSlateApplication::IsInitialized())
			{
				FSlateApplication::Get().SetAllUserFocusToGameViewport();
			}
		}
	}
	ConsoleInViewport.Reset();
	Console.Reset();
	ConsoleViewport.Reset();
}
